package repopage

// pageTemplate is the page, an html/template: every value is escaped.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.State.Repo}} · ca-reconciler{{if .Org}}: {{.Org}}{{end}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: .2em; overflow-wrap: anywhere; }
h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, monospace; font-size: .92em; }
pre { background: #f7f7f7; padding: .5em; margin: .3em 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.badge { display: inline-block; padding: .1em .5em; border-radius: .3em; font-weight: 600; }
.ok { background: #d7f5dd; color: #0b5d1e; }
.warn { background: #fff0c2; color: #6b4e00; }
.bad { background: #ffd9d9; color: #8a1010; }
.info { background: #dde8ff; color: #183f8a; }
.muted { color: #666; }
.err { color: #8a1010; }
footer { margin-top: 2em; font-size: .9em; color: #666; }
</style>
</head>
<body>
<p><a href="../">&larr; all repos</a></p>
<h1 id="repo">{{.State.Repo}}</h1>
<p><span class="badge {{badge (print .State.Status)}}" id="status">{{.State.Status}}</span>
{{- if .State.Writes}} <span class="muted">({{.State.Writes}} write{{if ne .State.Writes 1}}s{{end}} of this file did not converge)</span>{{end}}</p>

<dl>
<dt>File</dt><dd id="file">{{if .State.File}}<code>{{.State.File}}</code>{{if .FileGone}} <span class="muted">(deleted)</span>{{end}}{{else}}<span class="muted">none: no file names this repo</span>{{end}}</dd>
<dt>Set by</dt><dd>{{if .Detail.SetBy}}revision <code id="set-by" title="{{.Detail.SetBy}}">{{short .Detail.SetBy}}</code>{{else}}<span class="muted">-</span>{{end}}</dd>
{{- if .Detail.Source}}
<dt>Source</dt><dd id="source"><code>{{.Detail.Source}}</code> <span class="muted">(the settings file creates the repo from it)</span></dd>
{{- end}}
{{- with .State.Held}}
<dt>Held back</dt><dd id="held">{{if .Guard}}<span class="badge bad">refused</span> {{end}}{{.Describe}}</dd>
{{- end}}
{{- with .State.Would}}
<dt>Would</dt><dd id="would">{{.}}{{if eq $.State.Status "suspended"}}: not done while suspended{{else if $.State.Held}}: not done while held back{{else}}: not done yet{{end}}</dd>
{{- end}}
{{- if .State.RepoID}}
<dt>Repo id</dt><dd><code>{{.State.RepoID}}</code></dd>
{{- end}}
<dt>Desired / live hash</dt><dd>{{if .State.DesiredHash}}<code title="{{.State.DesiredHash}}">{{short .State.DesiredHash}}</code>{{else}}<span class="muted">-</span>{{end}} / {{if .State.LiveHash}}<code title="{{.State.LiveHash}}">{{short .State.LiveHash}}</code>{{else}}<span class="muted">-</span>{{end}}</dd>
{{- with .State.DriftSince}}
<dt>Drifted since</dt><dd>{{when .}} ({{ago .}})</dd>
{{- end}}
{{- with .State.UnknownFields}}
<dt>Unknown fields</dt><dd id="unknown-fields"><span class="badge info">kept</span> {{unknownNote .}}</dd>
{{- end}}
{{- if .State.CheckRefused}}
<dt>Package check</dt><dd id="package-check"><span class="badge bad">refused</span> the org's packages cannot build this file (why: below)</dd>
{{- end}}
</dl>
{{- if .State.Warnings}}

<h2>Warnings</h2>
<pre id="warnings">{{range .State.Warnings}}{{.}}
{{end}}</pre>
{{- end}}
{{- if .State.CheckNotes}}

<h2>Package check notes</h2>
<pre id="package-check-notes">{{range .State.CheckNotes}}{{.}}
{{end}}</pre>
{{- end}}

{{- if .State.Error}}
<h2>{{if .State.Held}}Why it is not written{{else}}Why it cannot be reconciled{{end}}</h2>
<pre class="err" id="error">{{.State.Error}}</pre>
{{- end}}

<h2>Diff</h2>
{{- if .State.Diff}}
<pre id="diff">{{range .State.Diff}}{{.}}
{{end}}</pre>
{{- else}}
<p class="muted" id="diff">No difference between the file and the live overlay.</p>
{{- end}}

<div class="cols">
<section>
<h2>Desired (the file)</h2>
{{- if .FileGone}}
<p class="muted" id="desired">The file is gone: pruning resets the live overlay to the empty overlay.</p>
{{- else if .Detail.HasDesired}}
<pre id="desired">{{.Desired}}</pre>
{{- else}}
<p class="muted" id="desired">No valid file.</p>
{{- end}}
</section>
<section>
<h2>Live (the Chainguard API)</h2>
{{- if .Detail.HasLive}}
<pre id="live">{{.Live}}</pre>
{{- else}}
<p class="muted" id="live">No live repo.</p>
{{- end}}
</section>
</div>

<h2>Writes</h2>
{{- if .Detail.Writes}}
<table id="writes">
<thead><tr><th>When</th><th>Action</th><th>Result</th><th>Attempts</th><th>Changes</th></tr></thead>
<tbody>
{{- range .Detail.Writes}}
<tr><td>{{when .At}} ({{ago .At}})</td><td>{{.Action}}{{if .Source}} from <code>{{.Source}}</code>{{end}}</td>
<td>{{if .Held}}<span class="badge bad">refused</span> {{.Held.Describe}}{{if .Error}}<pre class="err">{{.Error}}</pre>{{end}}
{{- else if .Error}}<span class="badge bad">failed</span><pre class="err">{{.Error}}</pre>
{{- else if .Converged}}<span class="badge ok">{{done .Action}}</span>
{{- else}}<span class="badge warn">{{done .Action}}, read back different</span>{{end}}</td>
<td>{{if .Attempts}}{{.Attempts}}{{else}}-{{end}}</td><td>{{if .Diff}}<pre>{{range .Diff}}{{.}}
{{end}}</pre>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="muted" id="writes">No writes since the daemon started.</p>
{{- end}}

<h2>Builds</h2>
{{- if .Detail.Builds}}
<table id="builds">
<thead><tr><th>Build</th><th>Result</th><th>Started</th><th>Finished</th><th>Duration</th></tr></thead>
<tbody>
{{- range .Detail.Builds}}
<tr><td><code>{{.ID}}</code></td><td><span class="badge {{badge .Result}}">{{.Result}}</span></td><td>{{when .Started}}</td><td>{{when .Finished}} ({{ago .Finished}})</td><td>{{duration .Duration}}</td></tr>
{{- if .LogTail}}
<tr class="log"><td></td><td colspan="4"><pre class="err">{{range .LogTail}}{{.}}
{{end}}</pre></td></tr>
{{- end}}
{{- end}}
</tbody>
</table>
{{- else if .State.LastBuild}}{{with .State.LastBuild}}
<table id="builds">
<thead><tr><th>Build</th><th>Result</th><th>Finished</th><th>Duration</th></tr></thead>
<tbody><tr><td><code>{{.ID}}</code></td><td><span class="badge {{badge (print .Result)}}">{{.Result}}</span></td><td>{{when .Finished}} ({{ago .Finished}})</td><td>{{.Seconds}}s</td></tr></tbody>
</table>{{end}}
{{- else}}
<p class="muted" id="builds">No builds seen since the daemon started.</p>
{{- end}}

<footer>
Generated {{when .Generated}}. All repos: <a href="../">/</a>; as JSON: <a href="../status">/status</a>.{{if .Version}} ca-reconciler {{.Version}}.{{end}}
</footer>
</body>
</html>
`
