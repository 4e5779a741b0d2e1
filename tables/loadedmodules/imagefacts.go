package loadedmodules

import (
	"context"
	"errors"
	"log/slog"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/imagefacts"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
)

// The columns read from a PE's own bytes, and those Authenticode answers.
var (
	peColumns        = []string{"original_file_name", "company", "product", "description", "file_version", "imphash", "is_dotnet"}
	signatureColumns = []string{"signed", "signature_status", "signer"}
)

// imageFacts fills the PE and signature columns of one query's rows: only
// when the query reads them, only for PE files, once per file per query
// (and once per file identity across queries, through the file-facts
// cache).
type imageFacts struct {
	inv       inventory.Source
	pe, sig   bool
	peByFile  map[fileinfo.Key]imagefacts.PE
	sigByFile map[fileinfo.Key]*imagefacts.Signature
}

func newImageFacts(inv inventory.Source, q table.Query) *imageFacts {
	return &imageFacts{
		inv: inv, pe: q.UsesAny(peColumns...),
		// Only Windows verifies signatures; elsewhere the columns stay
		// empty without a file being opened.
		sig:      q.UsesAny(signatureColumns...) && inv.Platform() == table.Windows,
		peByFile: map[fileinfo.Key]imagefacts.PE{}, sigByFile: map[fileinfo.Key]*imagefacts.Signature{},
	}
}

// fill sets the fact cells of rows, p's modules in order.
func (f *imageFacts) fill(ctx context.Context, log *slog.Logger, p *inventory.Process, rows []table.Row) {
	if !f.pe && !f.sig {
		return
	}
	for i := range p.Modules {
		m := &p.Modules[i]
		if m.FileType != inventory.FilePE || i >= len(rows) {
			continue
		}
		r := rows[i]
		if f.pe {
			pe, ok := f.peByFile[m.File]
			if !ok || m.File == (fileinfo.Key{}) {
				var err error
				if pe, err = imagefacts.ReadPE(f.inv, p.PID, m); err != nil {
					log.DebugContext(ctx, "PE facts unread", "pid", p.PID, "path", m.Path, "err", err)
				} else if m.File != (fileinfo.Key{}) {
					f.peByFile[m.File] = pe
				}
			}
			if pe.IsPE {
				r[colOriginalFileName], r[colCompany], r[colProduct] = pe.OriginalFileName, pe.Company, pe.Product
				r[colDescription], r[colFileVersion], r[colImphash] = pe.Description, pe.FileVersion, pe.Imphash
				r[colIsDotNet] = table.Bool(pe.IsDotNet)
			}
		}
		if f.sig {
			s, ok := f.sigByFile[m.File]
			if !ok || m.File == (fileinfo.Key{}) {
				v, err := imagefacts.ReadSignature(f.inv, p.PID, m)
				switch {
				case err == nil:
					s = &v
				case !errors.Is(err, imagefacts.ErrUnsupported):
					log.DebugContext(ctx, "signature unread", "pid", p.PID, "path", m.Path, "err", err)
				}
				if m.File != (fileinfo.Key{}) {
					f.sigByFile[m.File] = s
				}
			}
			if s != nil {
				r[colSigned], r[colSignatureStatus], r[colSigner] = table.Bool(s.Signed), s.Status, s.Signer
			}
		}
	}
}
