package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The paginated lists of the API (registry v2 ListRepos, apk ListAPKs)
// share their semantics: order_by "field [asc|desc]", page_size with a
// default and a maximum (larger values are clamped), an opaque page_token
// that is a cursor after the last item of the previous page and only
// works for the same filter and order, and skip, applied after the cursor,
// with skipped accumulating across pages.

// pageTokenTTL is how long a page token stays valid ("Opaque token with
// 3-day expiration", repos.proto).
const pageTokenTTL = 72 * time.Hour

// pageToken is the opaque cursor: the sort key of the last item returned,
// what the request was, how many were skipped so far, and when it was made.
type pageToken struct {
	After   []string `json:"a"`
	Request string   `json:"r"`
	Skipped int32    `json:"s"`
	Issued  int64    `json:"t"`
}

// pageRequest is one list call's paging.
type pageRequest struct {
	size, skip  int32
	token       string
	defaultSize int
	maxSize     int
	// allWhenUnpaged returns everything for page_size 0 without a token,
	// as ListAPKs does for old clients.
	allWhenUnpaged bool
	// fingerprint identifies the filter and order (see fingerprint).
	fingerprint string
}

// pageResult is one page.
type pageResult[T any] struct {
	items   []T
	next    string
	skipped int32
}

// paginate returns the page of sorted (ordered by key, descending when
// desc) that req asks for.
func paginate[T any](sorted []T, key func(T) []string, desc bool, req pageRequest, now time.Time) (pageResult[T], error) {
	if req.size < 0 {
		return pageResult[T]{}, status.Error(codes.InvalidArgument, "page_size must not be negative")
	}
	if req.skip < 0 {
		return pageResult[T]{}, status.Error(codes.InvalidArgument, "skip must not be negative")
	}
	var tok pageToken
	if req.token != "" {
		var err error
		if tok, err = decodePageToken(req.token); err != nil || tok.Request != req.fingerprint {
			return pageResult[T]{}, status.Error(codes.InvalidArgument, "invalid page_token: it does not belong to this filter and order_by")
		}
		if now.Sub(time.Unix(tok.Issued, 0)) > pageTokenTTL {
			return pageResult[T]{}, status.Error(codes.InvalidArgument, "invalid page_token: expired")
		}
	}
	size := int(req.size)
	switch {
	case size == 0 && req.token == "" && req.allWhenUnpaged:
		size = len(sorted)
	case size == 0:
		size = req.defaultSize
	case size > req.maxSize:
		size = req.maxSize
	}
	rest := sorted
	if tok.After != nil {
		i := sort.Search(len(sorted), func(i int) bool {
			c := slices.Compare(key(sorted[i]), tok.After)
			if desc {
				return c < 0
			}
			return c > 0
		})
		rest = sorted[i:]
	}
	skip := min(int(req.skip), len(rest))
	rest = rest[skip:]
	out := pageResult[T]{items: rest[:min(size, len(rest))], skipped: tok.Skipped + int32(skip)}
	if len(rest) > len(out.items) && len(out.items) > 0 {
		out.next = encodePageToken(pageToken{
			After:   key(out.items[len(out.items)-1]),
			Request: req.fingerprint,
			Skipped: out.skipped,
			Issued:  now.Unix(),
		})
	}
	return out, nil
}

// sortByKey sorts items by key, descending when desc.
func sortByKey[T any](items []T, key func(T) []string, desc bool) {
	sort.Slice(items, func(i, j int) bool {
		c := slices.Compare(key(items[i]), key(items[j]))
		if desc {
			return c > 0
		}
		return c < 0
	})
}

// parseOrderBy reads "field [asc|desc]" against the known fields; the
// first known field is the default.
func parseOrderBy(s string, known ...string) (field string, desc bool, err error) {
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return known[0], false, nil
	}
	field = parts[0]
	if !slices.Contains(known, field) {
		return "", false, status.Errorf(codes.InvalidArgument, "order_by: unknown field %q (known: %s)", field, strings.Join(known, ", "))
	}
	switch {
	case len(parts) == 1 || (len(parts) == 2 && parts[1] == "asc"):
		return field, false, nil
	case len(parts) == 2 && parts[1] == "desc":
		return field, true, nil
	}
	return "", false, status.Errorf(codes.InvalidArgument, "order_by: want \"field [asc|desc]\", got %q", s)
}

// fingerprint identifies a list request's filter and order: the request
// without its paging fields.
func fingerprint(m proto.Message) string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func encodePageToken(t pageToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, fmt.Errorf("decoding page token: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("decoding page token: %w", err)
	}
	return t, nil
}
