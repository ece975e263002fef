// Package assets holds what the dayi binary carries inside itself: the tiny
// default model, so that a fresh clone or a copied binary works with no download.
package assets

import _ "embed"

// DefaultModelName is the name the embedded model is known by.
const DefaultModelName = "dayi-tiny"

// DefaultModel is the GGUF image of stories260K (MIT; see LICENSE-stories260K.txt),
// a 260K-parameter llama trained on TinyStories.
//
//go:embed stories260K.gguf
var DefaultModel []byte

// DefaultModelLicense is the licence notice of DefaultModel.
//
//go:embed LICENSE-stories260K.txt
var DefaultModelLicense string
