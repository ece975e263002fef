// Package engine turns a GGUF file into a runnable model: it binds the
// architecture's tensors (engine/arch) to backend buffers without copying
// them, compiles a few fixed-shape GoMLX graphs (one decode step and some
// prefill buckets) once, and steps sessions whose KV caches live in backend
// buffers that are updated in place through donation.
//
// The engine is the seam every product layer (CLI, server, knowledge base,
// clinic) uses; it must never log prompt or output text.
package engine
