package untrusted

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDACLGrantsWrite(t *testing.T) {
	t.Parallel()
	const (
		system = "S-1-5-18"
		admins = "S-1-5-32-544"
		alice  = "S-1-5-21-1-2-3-1001"
		read   = 0x001200A9 // FILE_GENERIC_READ | FILE_EXECUTE
		modify = 0x001301BF
	)
	user := append([]string{alice}, LowPrivilegeSIDs...)
	// System32's own DACL: admins and SYSTEM full, Users read and execute.
	system32 := DACL{Owner: "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", ACEs: []ACE{
		{Allow: true, Mask: fileAllAccess, SID: system},
		{Allow: true, Mask: fileAllAccess, SID: admins},
		{Allow: true, Mask: read, SID: SIDUsers},
		{Allow: true, InheritOnly: true, Mask: genericAll, SID: "S-1-3-0"},
	}}
	// Windows\Tasks: Authenticated Users may create files (FILE_ADD_FILE).
	tasks := DACL{Owner: system, ACEs: []ACE{
		{Allow: true, Mask: fileAllAccess, SID: system},
		{Allow: true, Mask: read | fileWriteData, SID: SIDAuthenticatedUsers},
	}}
	cases := []struct {
		name string
		d    DACL
		sids []string
		want bool
	}{
		{"system32", system32, user, false},
		{"tasks", tasks, user, true},
		{"inherit-only grants nothing here", DACL{ACEs: []ACE{{Allow: true, InheritOnly: true, Mask: genericAll, SID: SIDUsers}}}, user, false},
		{"generic write", DACL{ACEs: []ACE{{Allow: true, Mask: genericWrite, SID: SIDEveryone}}}, user, true},
		{"generic all", DACL{ACEs: []ACE{{Allow: true, Mask: genericAll, SID: SIDInteractive}}}, user, true},
		{"append only", DACL{ACEs: []ACE{{Allow: true, Mask: read | 0x4, SID: SIDUsers}}}, user, false},
		{"write dac", DACL{ACEs: []ACE{{Allow: true, Mask: writeDAC, SID: SIDUsers}}}, user, true},
		{"deny first wins", DACL{ACEs: []ACE{{Mask: fileWriteData | writeDAC | writeOwner, SID: SIDEveryone}, {Allow: true, Mask: modify, SID: SIDUsers}}}, user, false},
		{"allow first wins", DACL{ACEs: []ACE{{Allow: true, Mask: modify, SID: SIDUsers}, {Mask: fileAllAccess, SID: SIDEveryone}}}, user, true},
		{"the process's user", DACL{Owner: system, ACEs: []ACE{{Allow: true, Mask: modify, SID: alice}}}, user, true},
		{"another user", DACL{Owner: system, ACEs: []ACE{{Allow: true, Mask: modify, SID: "S-1-5-21-1-2-3-1002"}}}, user, false},
		{"an admin's grant", DACL{ACEs: []ACE{{Allow: true, Mask: modify, SID: admins}}}, user, false},
		{"owner may rewrite the DACL", DACL{Owner: alice, ACEs: []ACE{{Allow: true, Mask: read, SID: alice}}}, user, true},
		{"OWNER RIGHTS takes that away", DACL{Owner: alice, ACEs: []ACE{{Allow: true, Mask: read, SID: SIDOwnerRights}}}, user, false},
		{"null DACL", DACL{Null: true}, user, true},
		{"empty DACL", DACL{Owner: system}, user, false},
		{"no user SIDs: groups only", DACL{Owner: alice, ACEs: []ACE{{Allow: true, Mask: modify, SID: alice}}}, LowPrivilegeSIDs, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.d.GrantsWrite(c.sids), c.name)
	}
}
