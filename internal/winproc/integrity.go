package winproc

// Mandatory integrity level RIDs (winnt.h SECURITY_MANDATORY_*_RID).
const (
	ridLow       = 0x1000
	ridMedium    = 0x2000
	ridHigh      = 0x3000
	ridSystem    = 0x4000
	ridProtected = 0x5000
)

// IntegrityLevel names the integrity level of a token's mandatory label RID.
// Between the named levels (medium plus, 0x2100) the level below counts, as
// Windows' own access checks compare RIDs numerically.
func IntegrityLevel(rid uint32) string {
	switch {
	case rid < ridLow:
		return "untrusted"
	case rid < ridMedium:
		return "low"
	case rid < ridHigh:
		return "medium"
	case rid < ridSystem:
		return "high"
	case rid < ridProtected:
		return "system"
	default:
		return "protected"
	}
}
