package statuspage

// pageTemplate is the page, an html/template: every value is escaped.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{- if .Refresh}}
<meta http-equiv="refresh" content="{{.Refresh}}">
{{- end}}
<title>ca-reconciler: {{.Org}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: 600; }
dd { margin: 0; }
code, pre { font-family: ui-monospace, monospace; font-size: .92em; }
pre { background: #f7f7f7; padding: .5em; margin: .3em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: .1em .5em; border-radius: .3em; font-weight: 600; }
.st-synced, .ok { background: #d7f5dd; color: #0b5d1e; }
.st-drifted, .warn { background: #fff0c2; color: #6b4e00; }
.st-failed, .st-stalled, .st-invalid, .st-missing, .bad { background: #ffd9d9; color: #8a1010; }
.st-orphan { background: #dde8ff; color: #183f8a; }
.st-unknown { background: #eee; color: #333; }
.mismatch { color: #8a1010; font-weight: 600; }
.muted { color: #666; }
.err { color: #8a1010; }
footer { margin-top: 2em; font-size: .9em; color: #666; }
</style>
</head>
<body>
<h1>ca-reconciler</h1>
<p>Organization <strong>{{.Org}}</strong>{{if .OrgID}} <span class="muted">({{.OrgID}})</span>{{end}}, mode <strong>{{.Mode}}</strong>.
{{- if .Summary}} {{.ManagedRepos}} managed repo{{if ne .ManagedRepos 1}}s{{end}}:
{{- range $i, $c := .Summary}}{{if $i}},{{end}} <span class="badge {{statusClass $c.Status}}">{{$c.N}} {{$c.Status}}</span>{{end}}
{{- else}} No repos yet.{{end}}</p>

<h2>Source and last cycle</h2>
<dl>
<dt>Ref</dt><dd>{{if .Ref}}<code>{{.Ref}}</code>{{else}}the remote's HEAD{{end}}</dd>
<dt>Revision</dt><dd>{{if .Revision}}<code title="{{.Revision}}">{{short .Revision}}</code>{{else}}<span class="muted">not read yet</span>{{end}}
{{- if not .Verified}} <span class="badge bad">head refused by signature verification; last verified revision kept</span>{{end}}</dd>
<dt>Last Git read</dt><dd>{{if .LastFetch.IsZero}}<span class="muted">never</span>{{else}}{{when .LastFetch}} ({{ago .LastFetch}}){{end}}</dd>
<dt>Ready</dt><dd>{{if .Ready}}yes{{else}}<span class="badge warn">no: first cycle not finished</span>{{end}}</dd>
{{- with .LastCycle}}
<dt>Last cycle</dt><dd><span class="badge {{cycleClass .Result}}">{{.Result}}</span> {{when .Finished}} ({{ago .Finished}}), trigger {{.Trigger}}, took {{seconds $.CycleSeconds}}, {{.Writes}} write{{if ne .Writes 1}}s{{end}}
{{- if .Revision}}, revision <code>{{short .Revision}}</code>{{end}}</dd>
{{- if .Error}}
<dt>Cycle error</dt><dd><pre class="err">{{.Error}}</pre></dd>
{{- end}}
{{- else}}
<dt>Last cycle</dt><dd><span class="muted">none finished yet</span></dd>
{{- end}}
<dt>Files</dt><dd>{{.Files.Valid}} valid, {{.Files.Invalid}} invalid, {{.Files.Ignored}} ignored
{{- if .Ignored}} <details><summary>ignored files</summary><ul>{{range .Ignored}}<li><code>{{.Path}}</code>: {{.Reason.Describe}}</li>{{end}}</ul></details>{{end}}</dd>
</dl>

<h2>Repos</h2>
{{- if .Repos}}
<table>
<thead><tr><th>Repo</th><th>Status</th><th>File</th><th>Desired / live overlay</th><th>Drifted since</th><th>Last write</th><th>Last build</th></tr></thead>
<tbody>
{{- range .Repos}}
<tr id="repo-{{.Repo}}">
<td><strong><a href="repos/{{pathEscape .Repo}}">{{.Repo}}</a></strong></td>
<td><span class="badge {{statusClass .Status}}">{{.Status}}</span>{{if .Writes}} <span class="muted">({{.Writes}} write{{if ne .Writes 1}}s{{end}} of this file)</span>{{end}}</td>
<td>{{if .File}}<code>{{.File}}</code>{{else}}<span class="muted">none</span>{{end}}</td>
<td>{{if .DesiredHash}}<code title="{{.DesiredHash}}">{{short .DesiredHash}}</code>{{else}}<span class="muted">-</span>{{end}} /
{{if .LiveHash}}<code title="{{.LiveHash}}"{{if and .DesiredHash (ne .DesiredHash .LiveHash)}} class="mismatch"{{end}}>{{short .LiveHash}}</code>{{else}}<span class="muted">-</span>{{end}}</td>
<td>{{with .DriftSince}}{{when .}} ({{ago .}}){{else}}<span class="muted">-</span>{{end}}</td>
<td>{{with .LastWrite}}{{when .}} ({{ago .}}){{else}}<span class="muted">never</span>{{end}}{{if .WriteError}}<pre class="err">{{.WriteError}}</pre>{{end}}</td>
<td>{{with .LastBuild}}<span class="badge {{buildClass .Result}}">{{.Result}}</span> {{when .Finished}} ({{ago .Finished}}), took {{seconds .Seconds}}{{else}}<span class="muted">none seen</span>{{end}}</td>
</tr>
{{- if or .Diff .Error}}
<tr class="detail"><td></td><td colspan="6">
{{- if .Error}}<pre class="err">{{.Error}}</pre>{{end}}
{{- if .Diff}}<pre>{{range .Diff}}{{.}}
{{end}}</pre>{{end}}
</td></tr>
{{- end}}
{{- end}}
</tbody>
</table>
{{- else}}
<p class="muted">No repos yet: the first cycle has not finished, or no file names a repo.</p>
{{- end}}

<footer>
Generated {{when .Generated}}{{if .Refresh}}; reloads every {{.Refresh}}s{{end}}.
The same as JSON: <a href="status">/status</a>. Prometheus metrics: <a href="metrics">/metrics</a>.
<a href="healthz">/healthz</a>, <a href="readyz">/readyz</a>.{{if .Version}} ca-reconciler {{.Version}}.{{end}}
</footer>
</body>
</html>
`
