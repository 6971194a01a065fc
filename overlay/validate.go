package overlay

// ServerRules returns the problems the Chainguard API itself would reject the
// overlay for (shared/OVERLAY.md, "Rules the server enforces"), without
// positions. The emulator enforces exactly these.
//
// TODO(overlay helper): implement; this stub accepts everything.
func ServerRules(o Overlay) Problems { return nil }
