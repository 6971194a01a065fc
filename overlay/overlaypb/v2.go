package overlaypb

import (
	"fmt"
	"math"

	registryv2 "chainguard.dev/sdk/proto/chainguard/platform/registry/v2"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// CoveredPathsV2 are the field paths of a registry v2 Repo that the file
// format owns, as an UpdateRepo update_mask names them: the leaves, never a
// whole section, so that a field a newer service adds to contents, accounts
// or certificates is outside the mask and never touched.
func CoveredPathsV2() []string {
	return []string{
		"custom_overlay.contents.packages",
		"custom_overlay.contents.runtime_repositories",
		"custom_overlay.contents.runtime_keyring",
		"custom_overlay.environment",
		"custom_overlay.annotations",
		"custom_overlay.accounts.run_as",
		"custom_overlay.accounts.users",
		"custom_overlay.accounts.groups",
		"custom_overlay.certificates.additional",
		"custom_overlay.certificates.providers",
	}
}

// CheckV2 reports why o cannot be written exactly through registry v2, or
// nil when it can. v2's accounts fields are int32 and a user's gid is not
// optional, so v2 cannot say "no gid" (apko then uses the user's uid as its
// group) apart from gid 0, and cannot carry ids above 2147483647. Such an
// overlay is written with v1, whose User.gid is optional and ids uint32.
func CheckV2(o overlay.Overlay) error {
	for i, u := range o.Accounts.Users {
		switch {
		case u.UID > math.MaxInt32:
			return fmt.Errorf("accounts.users[%d].uid %d does not fit registry v2's int32", i, u.UID)
		case u.GID == nil:
			return fmt.Errorf("accounts.users[%d] has no gid, which registry v2 cannot tell from gid 0", i)
		case *u.GID == 0:
			return fmt.Errorf("accounts.users[%d].gid 0 reads back from registry v2 as no gid", i)
		case *u.GID > math.MaxInt32:
			return fmt.Errorf("accounts.users[%d].gid %d does not fit registry v2's int32", i, *u.GID)
		}
	}
	for i, g := range o.Accounts.Groups {
		if g.GID > math.MaxInt32 {
			return fmt.Errorf("accounts.groups[%d].gid %d does not fit registry v2's int32", i, g.GID)
		}
	}
	return nil
}

// ToProtoV2 converts the overlay to registry v2's message; CheckV2 must have
// accepted it (ids that do not fit are a programming error and panic).
// Empty sections are left nil, as in ToProto.
func ToProtoV2(o overlay.Overlay) *registryv2.CustomOverlay {
	if err := CheckV2(o); err != nil {
		panic("overlaypb.ToProtoV2: " + err.Error())
	}
	p := &registryv2.CustomOverlay{}
	if len(o.Packages) > 0 || len(o.RuntimeRepositories) > 0 || len(o.RuntimeKeyring) > 0 {
		c := &registryv2.CustomOverlay_ImageContents{
			Packages:            cloneStrings(o.Packages),
			RuntimeRepositories: cloneStrings(o.RuntimeRepositories),
		}
		for _, k := range o.RuntimeKeyring {
			c.RuntimeKeyring = append(c.RuntimeKeyring, &registryv2.CustomOverlay_ImageContents_RuntimeKeyringEntry{Name: k.Name, Content: k.Content})
		}
		p.Contents = c
	}
	p.Environment = cloneMap(o.Environment)
	p.Annotations = cloneMap(o.Annotations)
	if !o.Accounts.IsZero() {
		a := &registryv2.CustomOverlay_Accounts{RunAs: o.Accounts.RunAs}
		for _, u := range o.Accounts.Users {
			a.Users = append(a.Users, &registryv2.CustomOverlay_Accounts_User{
				Username:  u.UserName,
				Uid:       int32(u.UID),
				Gid:       int32(*u.GID),
				GroupName: u.GroupName,
				Shell:     u.Shell,
				HomeDir:   u.HomeDir,
			})
		}
		for _, g := range o.Accounts.Groups {
			a.Groups = append(a.Groups, &registryv2.CustomOverlay_Accounts_Group{
				Groupname: g.GroupName,
				Gid:       int32(g.GID),
				Members:   cloneStrings(g.Members),
			})
		}
		p.Accounts = a
	}
	if len(o.Certificates) > 0 || len(o.CertificateProviders) > 0 {
		c := &registryv2.CustomOverlay_Certificates{Providers: cloneStrings(o.CertificateProviders)}
		for _, e := range o.Certificates {
			c.Additional = append(c.Additional, &registryv2.CustomOverlay_Certificates_AdditionalEntry{Name: e.Name, Content: e.Content})
		}
		p.Certificates = c
	}
	return p
}

// FromProtoV2 converts registry v2's overlay to an Overlay. A user's gid 0
// is read as no gid (v2 cannot tell them apart); negative ids, which no
// valid overlay has, are read as their uint32 bit pattern.
func FromProtoV2(p *registryv2.CustomOverlay) overlay.Overlay {
	return fromMessage(p, userFromV2, groupFromV2)
}

func userFromV2(u *registryv2.CustomOverlay_Accounts_User) overlay.User {
	user := overlay.User{
		UserName:  u.GetUsername(),
		UID:       uint32(u.GetUid()),
		GroupName: u.GetGroupName(),
		Shell:     u.GetShell(),
		HomeDir:   u.GetHomeDir(),
	}
	if u.GetGid() != 0 {
		gid := uint32(u.GetGid())
		user.GID = &gid
	}
	return user
}

func groupFromV2(g *registryv2.CustomOverlay_Accounts_Group) overlay.Group {
	return overlay.Group{GroupName: g.GetGroupname(), GID: uint32(g.GetGid()), Members: cloneStrings(g.GetMembers())}
}

// ApplyV2 is Apply for registry v2's message, for a PATCH whose
// update_mask is CoveredPathsV2: it returns ToProtoV2(o) with each entry of
// a repeated field carrying the unknown fields of the live entry with the
// same key, as Apply does. Fields outside the mask need not be sent, so they
// are not: the server keeps them without our help. CheckV2 must accept o.
func ApplyV2(live *registryv2.CustomOverlay, o overlay.Overlay) *registryv2.CustomOverlay {
	out := ToProtoV2(o)
	if c := out.GetContents(); c != nil {
		c.RuntimeKeyring = keepUnknown(live.GetContents().GetRuntimeKeyring(), c.GetRuntimeKeyring(),
			(*registryv2.CustomOverlay_ImageContents_RuntimeKeyringEntry).GetName)
	}
	if a := out.GetAccounts(); a != nil {
		a.Users = keepUnknown(live.GetAccounts().GetUsers(), a.GetUsers(), (*registryv2.CustomOverlay_Accounts_User).GetUsername)
		a.Groups = keepUnknown(live.GetAccounts().GetGroups(), a.GetGroups(), (*registryv2.CustomOverlay_Accounts_Group).GetGroupname)
	}
	if c := out.GetCertificates(); c != nil {
		c.Additional = keepUnknown(live.GetCertificates().GetAdditional(), c.GetAdditional(),
			(*registryv2.CustomOverlay_Certificates_AdditionalEntry).GetName)
	}
	return out
}
