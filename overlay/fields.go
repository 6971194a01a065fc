package overlay

// FieldWriter takes an overlay's values from WriteFields. Hash's encoder is
// one; the reconciler's fingerprint of a live overlay is another.
type FieldWriter interface {
	WriteUint(v uint64)
	// WriteString writes s so that no two strings in a row write alike
	// (length-prefixed, say).
	WriteString(s string)
	// WriteStringMap writes m's length and its entries, in an order of the
	// writer's choosing.
	WriteStringMap(m map[string]string)
}

// WriteFields writes every field of o to w in a fixed order, each section
// after its name and each list after its length, so that no two overlays
// write alike. It writes o as it is: Hash canonicalizes first.
func WriteFields(w FieldWriter, o Overlay) {
	writeStrings(w, "packages", o.Packages)
	writeStrings(w, "runtime_repositories", o.RuntimeRepositories)
	writeEntries(w, "runtime_keyring", o.RuntimeKeyring)
	w.WriteString("environment")
	w.WriteStringMap(o.Environment)
	w.WriteString("annotations")
	w.WriteStringMap(o.Annotations)
	w.WriteString("run-as")
	w.WriteString(o.Accounts.RunAs)
	w.WriteString("users")
	w.WriteUint(uint64(len(o.Accounts.Users)))
	for _, u := range o.Accounts.Users {
		w.WriteString(u.UserName)
		w.WriteUint(uint64(u.UID))
		if u.GID == nil {
			w.WriteUint(0)
		} else {
			w.WriteUint(1)
			w.WriteUint(uint64(*u.GID))
		}
		w.WriteString(u.GroupName)
		w.WriteString(u.Shell)
		w.WriteString(u.HomeDir)
	}
	w.WriteString("groups")
	w.WriteUint(uint64(len(o.Accounts.Groups)))
	for _, g := range o.Accounts.Groups {
		w.WriteString(g.GroupName)
		w.WriteUint(uint64(g.GID))
		writeStrings(w, "members", g.Members)
	}
	writeEntries(w, "certificates", o.Certificates)
	writeStrings(w, "certificate_providers", o.CertificateProviders)
}

func writeStrings(w FieldWriter, name string, list []string) {
	w.WriteString(name)
	w.WriteUint(uint64(len(list)))
	for _, s := range list {
		w.WriteString(s)
	}
}

func writeEntries(w FieldWriter, name string, list []NamedContent) {
	w.WriteString(name)
	w.WriteUint(uint64(len(list)))
	for _, x := range list {
		w.WriteString(x.Name)
		w.WriteString(x.Content)
	}
}
