// Package overlaypb converts the file format's overlay.Overlay to and from
// the Chainguard API's registryv1.CustomOverlay. It is the only place where
// the overlay value meets the SDK's generated types, so that package overlay
// stays free of transport types.
package overlaypb

import (
	registryv1 "chainguard.dev/sdk/proto/platform/registry/v1"

	"github.com/ca-reconciler/ca-reconciler/overlay"
)

// FromProto converts the API's overlay to an Overlay. A nil overlay is the
// empty Overlay. The conversion is exact: ToProto(FromProto(p)) equals p up to
// empty sections.
func FromProto(p *registryv1.CustomOverlay) overlay.Overlay {
	return fromMessage(p, userFromV1, groupFromV1)
}

func userFromV1(u *registryv1.ApkoConfig_Accounts_User) overlay.User {
	user := overlay.User{
		UserName:  u.GetUserName(),
		UID:       u.GetUid(),
		GroupName: u.GetGroupName(),
		Shell:     u.GetShell(),
		HomeDir:   u.GetHomeDir(),
	}
	if u.Gid != nil {
		gid := u.GetGid()
		user.GID = &gid
	}
	return user
}

func groupFromV1(g *registryv1.ApkoConfig_Accounts_Group) overlay.Group {
	return overlay.Group{GroupName: g.GetGroupName(), GID: g.GetGid(), Members: cloneStrings(g.GetMembers())}
}

// ToProto converts the overlay to the API's message. Empty sections are left
// nil, so the empty Overlay becomes an empty (non-nil) CustomOverlay.
func ToProto(o overlay.Overlay) *registryv1.CustomOverlay {
	p := &registryv1.CustomOverlay{}
	if len(o.Packages) > 0 || len(o.RuntimeRepositories) > 0 || len(o.RuntimeKeyring) > 0 {
		c := &registryv1.ImageContents{
			Packages:            cloneStrings(o.Packages),
			RuntimeRepositories: cloneStrings(o.RuntimeRepositories),
		}
		for _, k := range o.RuntimeKeyring {
			c.RuntimeKeyring = append(c.RuntimeKeyring, &registryv1.ImageContents_RuntimeKeyringEntry{Name: k.Name, Content: k.Content})
		}
		p.Contents = c
	}
	p.Environment = cloneMap(o.Environment)
	p.Annotations = cloneMap(o.Annotations)
	if !o.Accounts.IsZero() {
		a := &registryv1.ApkoConfig_Accounts{RunAs: o.Accounts.RunAs}
		for _, u := range o.Accounts.Users {
			pu := &registryv1.ApkoConfig_Accounts_User{
				Uid:       u.UID,
				UserName:  u.UserName,
				GroupName: u.GroupName,
				Shell:     u.Shell,
				HomeDir:   u.HomeDir,
			}
			if u.GID != nil {
				gid := *u.GID
				pu.Gid = &gid
			}
			a.Users = append(a.Users, pu)
		}
		for _, g := range o.Accounts.Groups {
			a.Groups = append(a.Groups, &registryv1.ApkoConfig_Accounts_Group{
				Gid:       g.GID,
				GroupName: g.GroupName,
				Members:   cloneStrings(g.Members),
			})
		}
		p.Accounts = a
	}
	if len(o.Certificates) > 0 || len(o.CertificateProviders) > 0 {
		c := &registryv1.CustomOverlay_Certificates{Providers: cloneStrings(o.CertificateProviders)}
		for _, e := range o.Certificates {
			c.Additional = append(c.Additional, &registryv1.CustomOverlay_Certificates_AdditionalEntry{Name: e.Name, Content: e.Content})
		}
		p.Certificates = c
	}
	return p
}
