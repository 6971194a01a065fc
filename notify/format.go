package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Format is how a message is encoded for its URL.
type Format string

// Formats.
const (
	// FormatJSON posts the Event as JSON.
	FormatJSON Format = "json"
	// FormatSlack posts Slack's incoming-webhook payload: text and blocks.
	FormatSlack Format = "slack"
)

// Target is one --notify-url.
type Target struct {
	URL    string
	Format Format
}

// ParseTarget reads one --notify-url: an absolute http(s) URL; Slack's
// incoming webhooks (host hooks.slack.com) get Slack's format, every other
// URL the JSON payload. The error never shows the URL, which for Slack is
// a secret.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Target{}, fmt.Errorf("not an absolute http:// or https:// URL")
	}
	f := FormatJSON
	if strings.EqualFold(u.Hostname(), "hooks.slack.com") {
		f = FormatSlack
	}
	return Target{URL: raw, Format: f}, nil
}

// headline is the event's one line for people.
func headline(e Event) string {
	where := e.Org
	switch e.Kind {
	case KindDriftCorrected:
		s := fmt.Sprintf("Drift corrected in %s (%s)", e.Repo, where)
		if e.Actor != "" {
			s += ": the change by " + e.Actor + " was put back"
		}
		return s
	case KindStalled:
		return fmt.Sprintf("%s stalled (%s): its writes do not converge; it is not written again until its file changes", e.Repo, where)
	case KindBuildFailed:
		return fmt.Sprintf("Build failed for %s (%s)", e.Repo, where)
	case KindRefused:
		switch {
		case e.Repo != "" && e.Action != "":
			return fmt.Sprintf("%s of %s refused (%s): %s", upperFirst(e.Action), e.Repo, where, e.Reason)
		case e.Repo != "":
			return fmt.Sprintf("Refused for %s (%s): %s", e.Repo, where, e.Reason)
		case e.Action == "prune":
			return fmt.Sprintf("Pruning refused (%s): %s", where, e.Reason)
		}
		return fmt.Sprintf("Writes held back (%s): %s", where, e.Reason)
	case KindSignatureRefused:
		return fmt.Sprintf("The head commit was refused by commit signature verification (%s); the last verified revision %s is kept", where, short(e.Revision))
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Repo)
}

// upperFirst capitalizes an ASCII word (an action).
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// Slack limits: a section's text is at most 3000 characters.
const slackSectionMax = 3000

// encode renders the body for a format.
func encode(f Format, e Event) ([]byte, error) {
	if f != FormatSlack {
		return json.Marshal(e)
	}
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type block struct {
		Type     string `json:"type"`
		Text     *text  `json:"text,omitempty"`
		Elements []text `json:"elements,omitempty"`
	}
	head := "*" + slackEscape(e.Summary) + "*"
	blocks := []block{{Type: "section", Text: &text{"mrkdwn", slackCut(head)}}}
	if e.Reason != "" && e.Kind != KindRefused {
		blocks = append(blocks, block{Type: "section", Text: &text{"mrkdwn", slackCut(slackEscape(e.Reason))}})
	}
	if len(e.Repos) > 0 {
		names := make([]string, len(e.Repos))
		for i, r := range e.Repos {
			names[i] = "`" + slackInline(r) + "`"
		}
		blocks = append(blocks, block{Type: "section", Text: &text{"mrkdwn", slackCut("Repos: " + strings.Join(names, ", "))}})
	}
	for _, lines := range [][]string{e.Problems, e.Diff, e.LogTail} {
		if len(lines) > 0 {
			blocks = append(blocks, block{Type: "section", Text: &text{"mrkdwn", slackCode(lines)}})
		}
	}
	var ctx []string
	if e.Revision != "" {
		ctx = append(ctx, "revision `"+slackInline(short(e.Revision))+"`")
	}
	if e.BuildID != "" {
		ctx = append(ctx, "build `"+slackInline(e.BuildID)+"`")
	}
	if e.URL != "" {
		ctx = append(ctx, "<"+slackEscape(e.URL)+"|ca-reconciler>")
	}
	if len(ctx) > 0 {
		blocks = append(blocks, block{Type: "context", Elements: []text{{"mrkdwn", slackCut(strings.Join(ctx, " · "))}}})
	}
	return json.Marshal(struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}{Text: slackEscape(e.Summary), Blocks: blocks})
}

// slackEscape escapes the three characters Slack's mrkdwn reads as
// markup (&, <, >), as Slack documents.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackInline is text for inside `code`: escaped, without backticks.
func slackInline(s string) string {
	return strings.ReplaceAll(slackEscape(s), "`", "'")
}

// slackCode renders lines as a code block that fits a section: backticks
// become quotes (a ``` in a value would end the block).
func slackCode(lines []string) string {
	body := slackInline(strings.Join(lines, "\n"))
	const fence = "```"
	if max := slackSectionMax - 2*len(fence) - len("\n…"); utf8.RuneCountInString(body) > max {
		body = string([]rune(body)[:max]) + "\n…"
	}
	return fence + body + fence
}

func slackCut(s string) string {
	if utf8.RuneCountInString(s) <= slackSectionMax {
		return s
	}
	return string([]rune(s)[:slackSectionMax-1]) + "…"
}
