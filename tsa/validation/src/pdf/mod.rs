//! The PDF structure layer of PAdES (ETSI EN 319 142-1, ISO 32000-2 §12.8): reading the
//! revisions of a PDF file, its signature fields and its document security store (DSS), telling
//! what each later revision changed, and writing incremental updates that add a signature field
//! with a `/Contents` placeholder or extend the DSS. Earlier bytes are never rewritten: the
//! writers return only the section to append.
//!
//! Supported: classic cross-reference tables, cross-reference streams (Flate with PNG
//! predictors), hybrid-reference files (`/XRefStm`, its entries read after the table's), object
//! streams for reading, linearized files (their first-page section is taken as part of the
//! original revision; an incremental update after them is fine and does not keep linearization
//! valid, as everywhere). New sections are written as a table when the file's last section is a
//! table, as an uncompressed cross-reference stream otherwise.
//!
//! Not supported, refused with an error: encrypted files (`/Encrypt`), stream filters other than
//! Flate on the streams this layer decodes (cross-reference streams, object streams, DSS
//! entries), files whose cross-reference data is broken (no reconstruction by scanning: a
//! validator must not guess which bytes a signer meant). Nothing here looks at page content.
//!
//! Every loop and recursion is bounded by [`PdfLimits`]; hostile input ends in a [`PdfError`],
//! never a panic. Parsing borrows the caller's bytes and decodes objects on demand, so a large
//! file is held once.

mod error;
mod file;
mod object;
mod read;
mod write;

#[cfg(test)]
mod tests;

pub use error::PdfError;
pub use file::{PdfFile, Revision};
pub use object::{Dictionary, Object, ObjectId};
pub use read::{Change, DssContent, RevisionChange, SigKind, SignatureField, VriEntry};
pub use write::{
    append_dss, append_dss_with_limits, prepare_signature, prepare_signature_with_limits,
    PreparedSignature, SignatureRequest, VisibleField,
};

/// Bounds on what a file may make the parser do.
#[derive(Clone, Debug)]
pub struct PdfLimits {
    /// Largest accepted file.
    pub max_bytes: u64,
    /// Cross-reference entries in the whole chain, nodes visited by one walk of the object
    /// graph (form fields, pages, DSS, appearance resources), values in one object.
    pub max_objects: usize,
    /// Cross-reference sections (incremental updates plus hybrid and linearized extras).
    pub max_revisions: usize,
    /// Nesting of arrays and dictionaries, and of references followed one after another. The
    /// parser recurses once per level: keep it to a few hundred.
    pub max_depth: usize,
    /// Decoded bytes of one signature's `/Contents`.
    pub max_contents: usize,
    /// Decoded bytes of one stream (cross-reference, object stream, DSS entry); also what the
    /// cache of decoded object streams may hold.
    pub max_decoded_stream: usize,
    /// Decoded stream bytes, all streams together, in one call.
    pub max_decoded_total: usize,
    /// Objects read, and values parsed in them, in one call: what bounds the time of walks
    /// repeated over many revisions and of huge arrays or dictionaries.
    pub max_object_reads: usize,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            max_bytes: 100 * 1024 * 1024,
            max_objects: 1_000_000,
            max_revisions: 1_000,
            max_depth: 64,
            max_contents: 1024 * 1024,
            max_decoded_stream: 64 * 1024 * 1024,
            max_decoded_total: 256 * 1024 * 1024,
            max_object_reads: 4_000_000,
        }
    }
}
