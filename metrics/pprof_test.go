package metrics

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPprofIsOptIn serves /debug/pprof/ only with ServerConfig.Pprof.
func TestPprofIsOptIn(t *testing.T) {
	for _, tc := range []struct {
		pprof bool
		want  int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		mux := NewMux(ServerConfig{Gatherer: prometheus.NewRegistry(), Pprof: tc.pprof})
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != tc.want {
				t.Errorf("Pprof %v: GET %s = %d, want %d", tc.pprof, path, rec.Code, tc.want)
			}
		}
	}
}
