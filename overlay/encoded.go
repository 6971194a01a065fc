package overlay

// EncodedSize is the size in bytes of o's protobuf encoding as the API's
// registry.v1.CustomOverlay, the message a write sends (proto3 wire format:
// every field number of CustomOverlay and its parts is below 16, so each
// tag is one byte; empty strings and zero numbers are left out, except in
// repeated fields and map entries; a section is sent when it holds
// anything). It is what MaxEncodedBytes is checked against; overlaypb's
// tests hold it equal to proto.Size of the converted message.
func EncodedSize(o Overlay) int {
	var contents int
	for _, p := range o.Packages {
		contents += repeatedString(p)
	}
	for _, r := range o.RuntimeRepositories {
		contents += repeatedString(r)
	}
	for _, k := range o.RuntimeKeyring {
		contents += message(stringField(k.Name) + stringField(k.Content))
	}
	size := 0
	if len(o.Packages) > 0 || len(o.RuntimeRepositories) > 0 || len(o.RuntimeKeyring) > 0 {
		size += message(contents)
	}
	for k, v := range o.Environment {
		size += message(repeatedString(k) + repeatedString(v))
	}
	for k, v := range o.Annotations {
		size += message(repeatedString(k) + repeatedString(v))
	}
	if !o.Accounts.IsZero() {
		accounts := stringField(o.Accounts.RunAs)
		for _, u := range o.Accounts.Users {
			user := uintField(u.UID) + stringField(u.UserName) + stringField(u.GroupName) + stringField(u.Shell) + stringField(u.HomeDir)
			if u.GID != nil {
				user += 1 + varintLen(uint64(*u.GID)) // optional: sent even when 0
			}
			accounts += message(user)
		}
		for _, g := range o.Accounts.Groups {
			group := uintField(g.GID) + stringField(g.GroupName)
			for _, m := range g.Members {
				group += repeatedString(m)
			}
			accounts += message(group)
		}
		size += message(accounts)
	}
	if len(o.Certificates) > 0 || len(o.CertificateProviders) > 0 {
		certs := 0
		for _, e := range o.Certificates {
			certs += message(stringField(e.Name) + stringField(e.Content))
		}
		for _, p := range o.CertificateProviders {
			certs += repeatedString(p)
		}
		size += message(certs)
	}
	return size
}

// message is the size of a length-delimited field holding n bytes.
func message(n int) int { return 1 + varintLen(uint64(n)) + n }

// repeatedString is the size of one item of a repeated string field (or a
// map entry's key or value), sent even when empty.
func repeatedString(s string) int { return message(len(s)) }

// stringField is the size of a singular string field, absent when empty.
func stringField(s string) int {
	if s == "" {
		return 0
	}
	return message(len(s))
}

// uintField is the size of a singular uint32 field, absent when 0.
func uintField(v uint32) int {
	if v == 0 {
		return 0
	}
	return 1 + varintLen(uint64(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
