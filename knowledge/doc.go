// Package knowledge is dayi's hospital knowledge base: it ingests the
// hospital's own documents (text, Markdown, HTML, JSON lines), cuts them into
// heading-aware chunks sized in model tokens, and retrieves the chunks that
// answer a question so that generated answers can cite them.
//
// Retrieval is lexical first (BM25 over Chinese character bigrams and stemmed
// English words, because clinical questions are full of exact drug and test
// names that embeddings blur) and optionally dense (embeddings from a GGUF
// model), the two rankings fused by reciprocal rank fusion.
//
// Each knowledge base is one bbolt file under $DAYI_HOME/kb/NAME. Files are
// ingested in atomic batches (one transaction each), so a crash mid-ingest leaves
// every file either in its previous or in its new state, never half indexed.
package knowledge
