// Package memory is dayi's long-term patient memory: every turn of every
// visit is stored under the patient's id, durable facts (allergies,
// diagnoses, medications, dated results) are extracted from what the
// clinician writes, and each new request recalls the facts and the most
// relevant and most recent turns that fit a token budget. A patient's history
// can thus be far longer than the model's context and still be used.
//
// Storage sits behind the Store interface with two implementations: an
// embedded bbolt file (the default, one server) and PostgreSQL (several dayi
// servers sharing one database). Encrypted wraps either with AES-GCM so that
// stored text is unreadable without the key file; OpenEncrypted marks the
// store with a check value of the key, after which the store itself refuses
// unencrypted records and another key is refused before any record is read.
// Encrypt migrates a store written before encryption was the default.
package memory
