package pefacts

// The CLI metadata table schema (ECMA-335 II.22, the edit-and-continue
// tables as CoreCLR and dnlib define them, and the Portable PDB tables
// 0x30-0x37), reduced to what sizing a row needs: the kind of each column.
// Only the Module and Assembly rows are ever read, but every table before
// Assembly (0x20) must be sized exactly to find it, and every table after
// it to check that the tables fit their stream.

// column kinds: fixed sizes, heap indexes, a table index (colTable+table)
// or a coded index (colCoded+kind).
const (
	col2 = iota
	col4
	colStr
	colGUID
	colBlob
	colTable = 16
	colCoded = colTable + 64
)

func tbl(t int) int      { return colTable + t }
func coded(k int) int    { return colCoded + k }
func isTable(c int) bool { return c >= colTable && c < colCoded }

// Tables this package names.
const (
	tModule                 = 0x00
	tTypeRef                = 0x01
	tTypeDef                = 0x02
	tField                  = 0x04
	tMethodDef              = 0x06
	tParam                  = 0x08
	tInterfaceImpl          = 0x09
	tMemberRef              = 0x0a
	tDeclSecurity           = 0x0e
	tStandAloneSig          = 0x11
	tEvent                  = 0x14
	tProperty               = 0x17
	tModuleRef              = 0x1a
	tTypeSpec               = 0x1b
	tAssembly               = 0x20
	tAssemblyRef            = 0x23
	tFile                   = 0x26
	tExportedType           = 0x27
	tManifestResource       = 0x28
	tNestedClass            = 0x29
	tGenericParam           = 0x2a
	tMethodSpec             = 0x2b
	tGenericParamConstraint = 0x2c
	tDocument               = 0x30
	tLocalScope             = 0x32
	tLocalVariable          = 0x33
	tLocalConstant          = 0x34
	tImportScope            = 0x35
)

// Coded index kinds (ECMA-335 II.24.2.6): tag bits and the tables they
// select. A coded index is 2 bytes when every table it can reference has
// fewer than 2^(16-bits) rows, else 4.
const (
	ciTypeDefOrRef = iota
	ciHasConstant
	ciHasCustomAttribute
	ciHasFieldMarshal
	ciHasDeclSecurity
	ciMemberRefParent
	ciHasSemantics
	ciMethodDefOrRef
	ciMemberForwarded
	ciImplementation
	ciCustomAttributeType
	ciResolutionScope
	ciTypeOrMethodDef
	ciHasCustomDebugInformation
)

var codedKinds = [...]struct {
	bits   uint
	tables []int
}{
	ciTypeDefOrRef:       {2, []int{tTypeDef, tTypeRef, tTypeSpec}},
	ciHasConstant:        {2, []int{tField, tParam, tProperty}},
	ciHasCustomAttribute: {5, hasCustomAttribute},
	ciHasFieldMarshal:    {1, []int{tField, tParam}},
	ciHasDeclSecurity:    {2, []int{tTypeDef, tMethodDef, tAssembly}},
	ciMemberRefParent:    {3, []int{tTypeDef, tTypeRef, tModuleRef, tMethodDef, tTypeSpec}},
	ciHasSemantics:       {1, []int{tEvent, tProperty}},
	ciMethodDefOrRef:     {1, []int{tMethodDef, tMemberRef}},
	ciMemberForwarded:    {1, []int{tField, tMethodDef}},
	ciImplementation:     {2, []int{tFile, tAssemblyRef, tExportedType}},
	// Tags 0, 1 and 4 are unused; only MethodDef and MemberRef count.
	ciCustomAttributeType:       {3, []int{tMethodDef, tMemberRef}},
	ciResolutionScope:           {2, []int{tModule, tModuleRef, tAssemblyRef, tTypeRef}},
	ciTypeOrMethodDef:           {1, []int{tTypeDef, tMethodDef}},
	ciHasCustomDebugInformation: {5, append(append([]int(nil), hasCustomAttribute...), tDocument, tLocalScope, tLocalVariable, tLocalConstant, tImportScope)},
}

var hasCustomAttribute = []int{
	tMethodDef, tField, tTypeRef, tTypeDef, tParam, tInterfaceImpl, tMemberRef, tModule,
	tDeclSecurity, tProperty, tEvent, tStandAloneSig, tModuleRef, tTypeSpec, tAssembly,
	tAssemblyRef, tFile, tExportedType, tManifestResource, tGenericParam,
	tGenericParamConstraint, tMethodSpec,
}

// schema[t] lists table t's columns; nil for the unused numbers 0x2d-0x2f
// and everything past 0x37.
var schema = [64][]int{
	0x00: {col2, colStr, colGUID, colGUID, colGUID},                                                  // Module
	0x01: {coded(ciResolutionScope), colStr, colStr},                                                 // TypeRef
	0x02: {col4, colStr, colStr, coded(ciTypeDefOrRef), tbl(tField), tbl(tMethodDef)},                // TypeDef
	0x03: {tbl(tField)},                                                                              // FieldPtr
	0x04: {col2, colStr, colBlob},                                                                    // Field
	0x05: {tbl(tMethodDef)},                                                                          // MethodPtr
	0x06: {col4, col2, col2, colStr, colBlob, tbl(tParam)},                                           // MethodDef
	0x07: {tbl(tParam)},                                                                              // ParamPtr
	0x08: {col2, col2, colStr},                                                                       // Param
	0x09: {tbl(tTypeDef), coded(ciTypeDefOrRef)},                                                     // InterfaceImpl
	0x0a: {coded(ciMemberRefParent), colStr, colBlob},                                                // MemberRef
	0x0b: {col2, coded(ciHasConstant), colBlob},                                                      // Constant: Type, padding byte
	0x0c: {coded(ciHasCustomAttribute), coded(ciCustomAttributeType), colBlob},                       // CustomAttribute
	0x0d: {coded(ciHasFieldMarshal), colBlob},                                                        // FieldMarshal
	0x0e: {col2, coded(ciHasDeclSecurity), colBlob},                                                  // DeclSecurity
	0x0f: {col2, col4, tbl(tTypeDef)},                                                                // ClassLayout
	0x10: {col4, tbl(tField)},                                                                        // FieldLayout
	0x11: {colBlob},                                                                                  // StandAloneSig
	0x12: {tbl(tTypeDef), tbl(tEvent)},                                                               // EventMap
	0x13: {tbl(tEvent)},                                                                              // EventPtr
	0x14: {col2, colStr, coded(ciTypeDefOrRef)},                                                      // Event
	0x15: {tbl(tTypeDef), tbl(tProperty)},                                                            // PropertyMap
	0x16: {tbl(tProperty)},                                                                           // PropertyPtr
	0x17: {col2, colStr, colBlob},                                                                    // Property
	0x18: {col2, tbl(tMethodDef), coded(ciHasSemantics)},                                             // MethodSemantics
	0x19: {tbl(tTypeDef), coded(ciMethodDefOrRef), coded(ciMethodDefOrRef)},                          // MethodImpl
	0x1a: {colStr},                                                                                   // ModuleRef
	0x1b: {colBlob},                                                                                  // TypeSpec
	0x1c: {col2, coded(ciMemberForwarded), colStr, tbl(tModuleRef)},                                  // ImplMap
	0x1d: {col4, tbl(tField)},                                                                        // FieldRVA
	0x1e: {col4, col4},                                                                               // EncLog
	0x1f: {col4},                                                                                     // EncMap
	0x20: {col4, col2, col2, col2, col2, col4, colBlob, colStr, colStr},                              // Assembly
	0x21: {col4},                                                                                     // AssemblyProcessor
	0x22: {col4, col4, col4},                                                                         // AssemblyOS
	0x23: {col2, col2, col2, col2, col4, colBlob, colStr, colStr, colBlob},                           // AssemblyRef
	0x24: {col4, tbl(tAssemblyRef)},                                                                  // AssemblyRefProcessor
	0x25: {col4, col4, col4, tbl(tAssemblyRef)},                                                      // AssemblyRefOS
	0x26: {col4, colStr, colBlob},                                                                    // File
	0x27: {col4, col4, colStr, colStr, coded(ciImplementation)},                                      // ExportedType
	0x28: {col4, col4, colStr, coded(ciImplementation)},                                              // ManifestResource
	0x29: {tbl(tTypeDef), tbl(tTypeDef)},                                                             // NestedClass
	0x2a: {col2, col2, coded(ciTypeOrMethodDef), colStr},                                             // GenericParam
	0x2b: {coded(ciMethodDefOrRef), colBlob},                                                         // MethodSpec
	0x2c: {tbl(tGenericParam), coded(ciTypeDefOrRef)},                                                // GenericParamConstraint
	0x30: {colBlob, colGUID, colBlob, colGUID},                                                       // Document
	0x31: {tbl(tDocument), colBlob},                                                                  // MethodDebugInformation
	0x32: {tbl(tMethodDef), tbl(tImportScope), tbl(tLocalVariable), tbl(tLocalConstant), col4, col4}, // LocalScope
	0x33: {col2, col2, colStr},                                                                       // LocalVariable
	0x34: {colStr, colBlob},                                                                          // LocalConstant
	0x35: {tbl(tImportScope), colBlob},                                                               // ImportScope
	0x36: {tbl(tMethodDef), tbl(tMethodDef)},                                                         // StateMachineMethod
	0x37: {coded(ciHasCustomDebugInformation), colGUID, colBlob},                                     // CustomDebugInformation
}

// genericParamKind is the extra Kind column GenericParam had in the
// pre-release table schema 1.1 (as dnlib reads it).
var genericParamV11 = []int{col2, col2, coded(ciTypeOrMethodDef), colStr, coded(ciTypeDefOrRef)}

// heapSizes bits of the tables stream header.
const (
	heapStringsWide = 0x01
	heapGUIDWide    = 0x02
	heapBlobWide    = 0x04
	heapExtraData   = 0x40 // a 4-byte word follows the row counts (CLR; Mono ignores the bit)
)

// sizer computes column and row sizes for one tables stream.
type sizer struct {
	rows    *[64]uint32
	heaps   byte
	allWide bool // a #JTD stream: every index is 4 bytes
	major   byte
	minor   byte
}

func (z *sizer) colSize(c int) int64 {
	switch {
	case c == col2:
		return 2
	case c == col4:
		return 4
	case z.allWide:
		return 4
	case c == colStr:
		return z.heapIdx(heapStringsWide)
	case c == colGUID:
		return z.heapIdx(heapGUIDWide)
	case c == colBlob:
		return z.heapIdx(heapBlobWide)
	case isTable(c):
		if z.rows[c-colTable] < 1<<16 {
			return 2
		}
		return 4
	default:
		k := codedKinds[c-colCoded]
		for _, t := range k.tables {
			if z.rows[t] >= 1<<(16-k.bits) {
				return 4
			}
		}
		return 2
	}
}

func (z *sizer) heapIdx(bit byte) int64 {
	if z.heaps&bit != 0 {
		return 4
	}
	return 2
}

// columns is table t's schema under this stream's version.
func (z *sizer) columns(t int) []int {
	if t == tGenericParam && z.major == 1 && z.minor == 1 {
		return genericParamV11
	}
	return schema[t]
}

func (z *sizer) rowSize(t int) int64 {
	var n int64
	for _, c := range z.columns(t) {
		n += z.colSize(c)
	}
	return n
}
