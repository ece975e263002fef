package server

import (
	"fmt"
	"os"

	"dayi/engine"
	"dayi/weights"
)

// projectorFor is the vision projector of a model: Config.Projectors by
// the model's name (--mmproj, --model siblings) first, then the
// catalogue's pairing.
func (r *registry) projectorFor(src modelSource) string {
	if p, ok := r.cfg.Projectors[src.Name]; ok {
		return p
	}
	return src.Projector
}

// attachProjector pairs a freshly loaded model with its projector. A
// projector that cannot be read or attached leaves the model text-only
// (requests with images then get ErrNoVision's 400) rather than failing the
// text requests too; the log says why. The file stays open while the model
// is loaded, since the projector may keep views of its weights.
func (r *registry) attachProjector(lm *engine.LM, src modelSource) *weights.File {
	if src.Projector == "" {
		return nil
	}
	var pf *weights.File
	err := regularFile(src.Projector)
	if err == nil {
		pf, err = weights.OpenWith(src.Projector, r.cfg.Open)
	}
	if err == nil {
		err = lm.AttachProjector(pf)
		if err != nil {
			pf.Close()
		}
	}
	if err != nil {
		r.log.Warn("vision projector not attached; the model serves text only", "model", src.Name, "err", err)
		return nil
	}
	r.log.Info("vision projector attached", "model", src.Name)
	return pf
}

// regularFile refuses a projector path that is not a regular file (after
// symlinks): opening a FIFO blocks until something writes to it, which
// would hang the model's load and every request waiting on it, and a
// device or directory is no GGUF. The catalogue's pairings are checked the
// same way (store.SiblingProjector, the Ollama layer); --mmproj is not.
func regularFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("projector %s is not a regular file (%v)", path, st.Mode().Type())
	}
	return nil
}
