// Package vocab declares, once, the typed words ca-reconciler's packages
// share: a repo's status, a plan's action, how a cycle was triggered and how
// it ended, the results of builds, writes, Git fetches and webhook requests,
// the webhook providers, the state of a file under --path and why a file is
// ignored. Each type has its full list (metrics pre-initialise bounded
// labels from it, pages order by it, tests range over it) and carries the
// business rules that belong to the word, such as which statuses count as
// drifted.
//
// The values are the strings that appear in metrics labels, /status, logs
// and the README, so a value, once released, is never renamed. The types,
// their values and their lists are generated into vocab.go from vocab.yaml:
// adding one is an entry in vocab.yaml and `go generate ./...`
// (TestVocabIsCurrent in internal/vocabgen fails while vocab.go is out of
// date). The rules are written by hand in rules.go.
//
// The package imports nothing of ca-reconciler's, so every package may use
// it.
package vocab

//go:generate go test -count=1 -run ^TestVocabIsCurrent$ ../internal/vocabgen -update
