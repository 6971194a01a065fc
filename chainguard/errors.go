package chainguard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrTooLarge is returned (wrapped) when a request or its answer is larger
// than a gRPC message limit: the server's receive limit (grpc-go's default
// is 4 MiB) for a write, or this client's for a read. It is permanent for
// that request: the same overlay is as large on the next try.
var ErrTooLarge = errors.New("message larger than the API's limit")

// Retryable reports whether err is a transient failure worth retrying with
// backoff: the API was unavailable, too slow, rate limited, or aborted the
// call. Everything else (bad input, permissions, not found, a message over
// the size limit) is permanent.
//
// ResourceExhausted means two things in gRPC: a quota or rate limit on the
// server, which passes, and a message over a size limit ("grpc: received
// message larger than max (N vs. M)", "grpc: trying to send message larger
// than max"), which does not. Only the first is retryable; TooLarge tells
// them apart.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if TooLarge(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// TooLarge reports whether err says a message was over a gRPC size limit.
func TooLarge(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrTooLarge) {
		return true
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) || se.GRPCStatus().Code() != codes.ResourceExhausted {
		return false
	}
	msg := se.GRPCStatus().Message()
	return strings.Contains(msg, "message larger than max") || strings.Contains(msg, "header list size")
}

// classify marks a message-size failure with ErrTooLarge, so that callers
// can test it with errors.Is and the message says what happened.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrTooLarge) || !TooLarge(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTooLarge, err)
}

// Code returns the gRPC status code carried anywhere in err's chain, OK for
// nil and Unknown when there is none.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Code()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return codes.DeadlineExceeded
	}
	if errors.Is(err, context.Canceled) {
		return codes.Canceled
	}
	return codes.Unknown
}

// ErrNotFound is returned (wrapped) when an organization or repo does not exist.
var ErrNotFound = errors.New("not found")
