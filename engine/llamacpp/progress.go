package llamacpp

import (
	"log/slog"
	"time"
)

// progressQuiet is how long a load runs before its progress is logged:
// small models load in a blink and need no play-by-play.
const progressQuiet = 2 * time.Second

// loadProgress returns llama.cpp's load callback: it logs each quarter of
// the load reached once the load has run for progressQuiet, so a large
// model copied to a GPU shows it is moving. now is the clock.
func loadProgress(log *slog.Logger, path string, now func() time.Time) func(float32) {
	start := now()
	quarter := 0 // quarters already logged
	return func(p float32) {
		reached := int(p * 4)
		if reached <= quarter {
			return
		}
		quarter = reached
		if elapsed := now().Sub(start); elapsed >= progressQuiet {
			log.Info("loading model", "path", path, "percent", reached*25, "elapsed", elapsed.Round(100*time.Millisecond))
		}
	}
}
