//! Why a PDF file was refused.

/// Each variant says in plain words what is wrong and where.
#[derive(thiserror::Error, Debug)]
pub enum PdfError {
    #[error("not a PDF file: no %PDF- header in the first 1024 bytes")]
    NotAPdf,
    #[error("the file is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("encrypted PDF files are refused")]
    Encrypted,
    #[error("no startxref and %%EOF at the end of the file")]
    NoStartXref,
    #[error("broken cross-reference section at offset {offset}: {reason}")]
    BrokenXref { offset: u64, reason: String },
    #[error("the cross-reference chain comes back to offset {offset}")]
    XrefLoop { offset: u64 },
    #[error("more than {limit} cross-reference sections")]
    TooManyRevisions { limit: usize },
    #[error("more than {limit} objects ({context})")]
    TooManyObjects { context: &'static str, limit: usize },
    #[error("syntax error at offset {offset}: {reason}")]
    Syntax { offset: u64, reason: String },
    #[error("object {num} {generation} is referenced but not defined")]
    MissingObject { num: u32, generation: u16 },
    #[error("nesting deeper than {limit} ({context})")]
    Recursion { context: String, limit: usize },
    #[error("the object graph loops through object {num} {generation} ({context})")]
    ObjectLoop {
        num: u32,
        generation: u16,
        context: &'static str,
    },
    #[error("unexpected document structure: {0}")]
    Structure(String),
    #[error("stream filter {0} is not supported")]
    UnsupportedFilter(String),
    #[error("decoded stream data is larger than the limit of {limit} bytes")]
    StreamTooLarge { limit: usize },
    #[error("corrupt compressed stream: {0}")]
    Decode(String),
    #[error("signature field {field}: no /ByteRange")]
    NoByteRange { field: String },
    #[error("signature field {field}: malformed /ByteRange ({reason})")]
    BadByteRange { field: String, reason: String },
    #[error("signature field {field}: /ByteRange {byte_range:?} goes past the end of the file ({len} bytes)")]
    ByteRangePastEnd {
        field: String,
        byte_range: [u64; 4],
        len: u64,
    },
    #[error("signature field {field}: the gap left by /ByteRange is not exactly the /Contents hex string with its angle brackets")]
    ByteRangeGap { field: String },
    #[error("signature field {field}: no /Contents string")]
    NoContents { field: String },
    #[error(
        "signature field {field}: /Contents of {size} bytes is larger than the limit of {limit}"
    )]
    ContentsTooLarge {
        field: String,
        size: usize,
        limit: usize,
    },
    #[error("signature field {field}: /Contents is not a DER-encoded CMS structure ({reason})")]
    ContentsNotCms { field: String, reason: &'static str },
    #[error("a signature field named {0} already exists")]
    FieldExists(String),
    #[error("page {page} does not exist (the document has {count} pages)")]
    NoSuchPage { page: usize, count: usize },
    #[error("the signature is {size} bytes, the placeholder holds {capacity}")]
    PlaceholderTooSmall { size: usize, capacity: usize },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}
