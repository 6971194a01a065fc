package main

import (
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type logOptions struct {
	format string
	level  string
}

func (o *logOptions) logger(w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(o.level)
	if err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: %w", o.level, err)
	}
	var enc zapcore.Encoder
	switch o.format {
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		return nil, fmt.Errorf("invalid --log-format %q: want json or console", o.format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}
