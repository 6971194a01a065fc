package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// collectors makes collectors in the ca_reconciler namespace on a factory:
// the one place that fills in their options.
type collectors struct{ f promauto.Factory }

func (c collectors) counter(name, help string) prometheus.Counter {
	return c.f.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
}

func (c collectors) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return c.f.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func (c collectors) gauge(name, help string) prometheus.Gauge {
	return c.f.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
}

func (c collectors) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return c.f.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func (c collectors) histogram(name, help string, buckets []float64) prometheus.Histogram {
	return c.f.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
}

func (c collectors) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return c.f.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
}

// preset makes the series of every combination of one value from each list
// (the lists in the order of the vector's labels), so that each is exported,
// as 0, before it first has a value. with is the vector's WithLabelValues.
func preset[M any](with func(...string) M, lists ...[]string) {
	combinations := [][]string{nil}
	for _, list := range lists {
		var longer [][]string
		for _, c := range combinations {
			for _, v := range list {
				longer = append(longer, append(slices.Clip(c), v))
			}
		}
		combinations = longer
	}
	for _, c := range combinations {
		with(c...)
	}
}

// labels is a list of package vocab's typed values as label values.
func labels[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}
