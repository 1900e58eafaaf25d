//! The revision structure of a PDF file: the cross-reference chain walked from the last
//! `startxref` through `/Prev`, and objects resolved lazily as of any revision.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::rc::Rc;

use super::object::{find, Dictionary, Lexer, Object, ObjectId};
use super::{PdfError, PdfLimits};

/// One revision: the original document or one incremental update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// Offset just after the `%%EOF` line that ends it.
    pub end: usize,
    /// Objects (re)defined in use by its cross-reference section(s).
    pub objects: Vec<ObjectId>,
    /// Whether its (main) section is a cross-reference stream.
    pub xref_stream: bool,
    /// Whether a table of it names a hidden cross-reference stream (`/XRefStm`, a
    /// hybrid-reference file). Readers of PDF 1.4 and later versions can see different objects
    /// in such a file; pyHanko refuses to validate signatures in them by default.
    pub hybrid: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XrefEntry {
    Free,
    InUse { offset: usize, generation: u16 },
    Compressed { stream: u32, index: u32 },
}

struct Section {
    trailer: Dictionary,
    entries: BTreeMap<u32, XrefEntry>,
    is_stream: bool,
    hybrid: bool,
}

/// A decoded object stream: its bytes and where each object starts in them.
struct ObjectStream {
    data: Vec<u8>,
    offsets: Vec<(u32, usize)>,
}

/// A parsed PDF: borrowed bytes, the revisions and their cross-reference maps.
pub struct PdfFile<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) limits: PdfLimits,
    revisions: Vec<Revision>,
    /// Per revision, the entries its sections define (later sections of the chain win).
    maps: Vec<HashMap<u32, XrefEntry>>,
    trailers: Vec<Dictionary>,
    /// Offset of the section the last `startxref` points to (the `/Prev` of an update).
    pub(crate) last_xref_offset: usize,
    object_streams: RefCell<HashMap<(u32, usize), Rc<ObjectStream>>>,
    /// Objects read and bytes decoded since the last public call began (see [`PdfLimits`]).
    reads: Cell<usize>,
    decoded: Cell<usize>,
}

impl<'a> PdfFile<'a> {
    pub fn parse(bytes: &'a [u8], limits: &PdfLimits) -> Result<Self, PdfError> {
        if bytes.len() as u64 > limits.max_bytes {
            return Err(PdfError::TooLarge {
                size: bytes.len() as u64,
                limit: limits.max_bytes,
            });
        }
        let head = &bytes[..bytes.len().min(1024)];
        if find(head, b"%PDF-", 0).is_none() {
            return Err(PdfError::NotAPdf);
        }
        let markers = startxref_markers(bytes, limits)?;
        let last = markers.last().ok_or(PdfError::NoStartXref)?;
        let trailing = &bytes[last.eof_end..];
        if !trailing.iter().all(|b| super::object::is_whitespace(*b)) {
            return Err(PdfError::Structure("data after the last %%EOF".into()));
        }

        // Walk the chain newest first; a section whose own startxref exists ends a revision,
        // one reached only through /Prev or /XRefStm (linearized, hybrid) joins the revision
        // of the section that pointed to it.
        let mut chain: Vec<(Section, usize)> = Vec::new();
        let mut seen = HashSet::new();
        let last_target = last.target;
        let mut next = Some((last_target, last.eof_end));
        let mut total_entries = 0usize;
        while let Some((offset, pointed_from_end)) = next.take() {
            if chain.len() >= limits.max_revisions {
                return Err(PdfError::TooManyRevisions {
                    limit: limits.max_revisions,
                });
            }
            if !seen.insert(offset) {
                return Err(PdfError::XrefLoop {
                    offset: offset as u64,
                });
            }
            let mut section = read_section(bytes, offset, limits)?;
            if let Some(Object::Integer(stream_offset)) = section.trailer.get(b"XRefStm") {
                section.hybrid = true;
                let stream_offset = usize::try_from(*stream_offset)
                    .map_err(|_| broken(offset, "negative /XRefStm"))?;
                let hidden = read_section(bytes, stream_offset, limits)?;
                for (num, entry) in hidden.entries {
                    section.entries.entry(num).or_insert(entry);
                }
            }
            total_entries += section.entries.len();
            if total_entries > limits.max_objects {
                return Err(PdfError::TooManyObjects {
                    context: "cross-reference entries",
                    limit: limits.max_objects,
                });
            }
            if section.trailer.get(b"Encrypt").is_some() {
                return Err(PdfError::Encrypted);
            }
            let end = markers
                .iter()
                .find(|m| m.target == offset && m.position > offset)
                .map(|m| m.eof_end)
                .unwrap_or(pointed_from_end);
            if let Some((_, newer_end)) = chain.last() {
                if end > *newer_end {
                    return Err(broken(offset, "an older section ends after a newer one"));
                }
            }
            next = match section.trailer.get(b"Prev") {
                Some(Object::Integer(prev)) => Some((
                    usize::try_from(*prev).map_err(|_| broken(offset, "negative /Prev"))?,
                    end,
                )),
                Some(_) => return Err(broken(offset, "/Prev is not an integer")),
                None => None,
            };
            chain.push((section, end));
        }

        let mut revisions: Vec<Revision> = Vec::new();
        let mut maps: Vec<HashMap<u32, XrefEntry>> = Vec::new();
        let mut trailers = Vec::new();
        for (section, end) in chain.into_iter().rev() {
            if revisions.last().map(|r| r.end) != Some(end) {
                revisions.push(Revision {
                    end,
                    objects: Vec::new(),
                    xref_stream: section.is_stream,
                    hybrid: false,
                });
                maps.push(HashMap::new());
                trailers.push(Dictionary::default());
            }
            let (Some(revision), Some(map), Some(trailer)) =
                (revisions.last_mut(), maps.last_mut(), trailers.last_mut())
            else {
                continue;
            };
            // The newer section of a revision (walked first) replaces the trailer and entries.
            *trailer = section.trailer;
            revision.xref_stream = section.is_stream;
            revision.hybrid |= section.hybrid;
            map.extend(section.entries);
        }
        for (revision, map) in revisions.iter_mut().zip(&maps) {
            let mut objects: Vec<ObjectId> = map
                .iter()
                .filter_map(|(num, entry)| match entry {
                    XrefEntry::InUse { generation, .. } => Some((*num, *generation)),
                    XrefEntry::Compressed { .. } => Some((*num, 0)),
                    XrefEntry::Free => None,
                })
                .collect();
            objects.sort_unstable();
            revision.objects = objects;
        }
        Ok(PdfFile {
            bytes,
            limits: limits.clone(),
            revisions,
            maps,
            trailers,
            last_xref_offset: last_target,
            object_streams: RefCell::new(HashMap::new()),
            reads: Cell::new(0),
            decoded: Cell::new(0),
        })
    }

    /// The revisions in file order.
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn last_revision(&self) -> usize {
        self.revisions.len().saturating_sub(1)
    }

    /// The trailer of a revision (for a revision with an xref stream, its dictionary).
    pub(crate) fn trailer(&self, revision: usize) -> &Dictionary {
        static EMPTY: Dictionary = Dictionary(Vec::new());
        self.trailers.get(revision).unwrap_or(&EMPTY)
    }

    fn entry(&self, num: u32, revision: usize) -> Option<(usize, XrefEntry)> {
        (0..=revision.min(self.last_revision()))
            .rev()
            .find_map(|r| self.maps.get(r).and_then(|m| m.get(&num)).map(|e| (r, *e)))
    }

    /// The revision whose cross-reference section last defines `num` as of `revision`.
    pub(crate) fn defining_revision(&self, num: u32, revision: usize) -> Option<usize> {
        match self.entry(num, revision) {
            Some((r, XrefEntry::InUse { .. } | XrefEntry::Compressed { .. })) => Some(r),
            _ => None,
        }
    }

    /// The object `id` as of `revision`; `None` when it is free or undefined.
    pub(crate) fn object_as_of(
        &self,
        id: ObjectId,
        revision: usize,
    ) -> Result<Option<Object>, PdfError> {
        let reads = self.reads.get() + 1;
        if reads > self.limits.max_object_reads {
            return Err(PdfError::TooManyObjects {
                context: "objects read by one call",
                limit: self.limits.max_object_reads,
            });
        }
        self.reads.set(reads);
        match self.entry(id.0, revision) {
            None | Some((_, XrefEntry::Free)) => Ok(None),
            Some((r, XrefEntry::InUse { offset, generation })) => {
                if generation != id.1 {
                    return Ok(None);
                }
                self.object_at(offset, id, r).map(Some)
            }
            Some((r, XrefEntry::Compressed { stream, index })) => {
                if id.1 != 0 {
                    return Ok(None);
                }
                self.compressed_object(id.0, stream, index as usize, r)
                    .map(Some)
            }
        }
    }

    /// The latest version of `id`.
    pub fn object(&self, id: ObjectId) -> Result<Option<Object>, PdfError> {
        self.start_call();
        self.object_as_of(id, self.last_revision())
    }

    /// Each public call gets the whole read and decode budgets of [`PdfLimits`].
    pub(crate) fn start_call(&self) {
        self.reads.set(0);
        self.decoded.set(0);
    }

    /// Follows references until a direct object, as of `revision`.
    pub(crate) fn resolve(&self, object: &Object, revision: usize) -> Result<Object, PdfError> {
        let mut current = object.clone();
        let mut seen = Vec::new();
        while let Object::Reference(id) = current {
            if seen.contains(&id) {
                return Err(PdfError::ObjectLoop {
                    num: id.0,
                    generation: id.1,
                    context: "a reference to itself",
                });
            }
            if seen.len() >= self.limits.max_depth {
                return Err(PdfError::Recursion {
                    context: "chain of references".into(),
                    limit: self.limits.max_depth,
                });
            }
            seen.push(id);
            current = self.object_as_of(id, revision)?.unwrap_or(Object::Null);
        }
        Ok(current)
    }

    fn object_at(&self, offset: usize, id: ObjectId, revision: usize) -> Result<Object, PdfError> {
        let mut lexer = Lexer::new(self.bytes, offset, self.limits.max_depth)
            .with_max_items(self.item_allowance());
        let found = lexer.object_header()?;
        if found != id {
            return Err(PdfError::BrokenXref {
                offset: offset as u64,
                reason: format!(
                    "entry for object {} {} points to object {} {}",
                    id.0, id.1, found.0, found.1
                ),
            });
        }
        let object = self.counted(lexer.object(), lexer.items)?;
        let Object::Dictionary(dict) = object else {
            return Ok(object);
        };
        let Some(data_start) = lexer.stream_start() else {
            return Ok(Object::Dictionary(dict));
        };
        let declared = match dict.get(b"Length") {
            Some(Object::Integer(n)) => usize::try_from(*n).ok(),
            Some(Object::Reference(length_id)) if *length_id != id => {
                match self.object_as_of(*length_id, revision)? {
                    Some(Object::Integer(n)) => usize::try_from(n).ok(),
                    _ => None,
                }
            }
            _ => None,
        };
        let data = stream_extent(self.bytes, data_start, declared)?;
        Ok(Object::Stream { dict, data })
    }

    fn compressed_object(
        &self,
        num: u32,
        stream: u32,
        index: usize,
        revision: usize,
    ) -> Result<Object, PdfError> {
        let container = match self.entry(stream, revision) {
            Some((
                r,
                XrefEntry::InUse {
                    offset,
                    generation: 0,
                },
            )) => (r, offset),
            _ => {
                return Err(PdfError::MissingObject {
                    num: stream,
                    generation: 0,
                })
            }
        };
        let cached = self
            .object_streams
            .borrow()
            .get(&(stream, container.1))
            .cloned();
        let object_stream = match cached {
            Some(s) => s,
            None => {
                let decoded = self.load_object_stream(stream, container.1, container.0)?;
                let decoded = Rc::new(decoded);
                let mut cache = self.object_streams.borrow_mut();
                // The cache holds at most one stream limit's worth of decoded bytes.
                let held: usize = cache.values().map(|s| s.data.len()).sum();
                if held + decoded.data.len() > self.limits.max_decoded_stream {
                    cache.clear();
                }
                cache.insert((stream, container.1), decoded.clone());
                decoded
            }
        };
        let Some(&(found, start)) = object_stream.offsets.get(index) else {
            return Err(PdfError::MissingObject { num, generation: 0 });
        };
        if found != num {
            return Err(PdfError::Structure(format!(
                "object stream {stream} holds object {found} where {num} was expected"
            )));
        }
        let mut lexer = Lexer::new(&object_stream.data, start, self.limits.max_depth)
            .with_max_items(self.item_allowance());
        self.counted(lexer.object(), lexer.items)
    }

    fn load_object_stream(
        &self,
        num: u32,
        offset: usize,
        revision: usize,
    ) -> Result<ObjectStream, PdfError> {
        let Object::Stream { dict, data } = self.object_at(offset, (num, 0), revision)? else {
            return Err(PdfError::Structure(format!(
                "object {num} should be an object stream"
            )));
        };
        let decoded = decode_stream(&dict, &self.bytes[data], self.limits.max_decoded_stream)?;
        self.count_decoded(decoded.len())?;
        let count = dict
            .integer(b"N")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        let first = dict
            .integer(b"First")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        if count > self.limits.max_objects {
            return Err(PdfError::TooManyObjects {
                context: "object stream",
                limit: self.limits.max_objects,
            });
        }
        let mut lexer = Lexer::new(&decoded, 0, self.limits.max_depth);
        let mut offsets = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let object_num = u32::try_from(lexer.unsigned()?)
                .map_err(|_| lexer.error("object number out of range"))?;
            let relative = usize::try_from(lexer.unsigned()?)
                .map_err(|_| lexer.error("offset out of range"))?;
            offsets.push((object_num, first.saturating_add(relative)));
        }
        Ok(ObjectStream {
            data: decoded,
            offsets,
        })
    }

    /// Values one object may hold: what is left of the call's read budget, at most
    /// `max_objects`.
    fn item_allowance(&self) -> usize {
        self.limits
            .max_object_reads
            .saturating_sub(self.reads.get())
            .min(self.limits.max_objects)
    }

    /// Adds a parse's values to the call's budget; running out of it is told as such.
    fn counted(&self, parsed: Result<Object, PdfError>, items: usize) -> Result<Object, PdfError> {
        self.reads.set(self.reads.get().saturating_add(items));
        match parsed {
            Err(PdfError::TooManyObjects { .. })
                if self.reads.get() >= self.limits.max_object_reads =>
            {
                Err(PdfError::TooManyObjects {
                    context: "objects read by one call",
                    limit: self.limits.max_object_reads,
                })
            }
            other => other,
        }
    }

    fn count_decoded(&self, len: usize) -> Result<(), PdfError> {
        let total = self.decoded.get().saturating_add(len);
        if total > self.limits.max_decoded_total {
            return Err(PdfError::StreamTooLarge {
                limit: self.limits.max_decoded_total,
            });
        }
        self.decoded.set(total);
        Ok(())
    }

    /// The decoded data of a stream object of this file.
    pub(crate) fn stream_data(&self, object: &Object) -> Result<Vec<u8>, PdfError> {
        match object {
            Object::Stream { dict, data } => {
                let raw = self
                    .bytes
                    .get(data.clone())
                    .ok_or_else(|| PdfError::Structure("stream past the end".into()))?;
                let decoded = decode_stream(dict, raw, self.limits.max_decoded_stream)?;
                self.count_decoded(decoded.len())?;
                Ok(decoded)
            }
            _ => Err(PdfError::Structure("a stream was expected".into())),
        }
    }
}

impl std::fmt::Debug for PdfFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfFile")
            .field("len", &self.bytes.len())
            .field("revisions", &self.revisions)
            .finish_non_exhaustive()
    }
}

/// Places an error inside a cross-reference section, except the limits, which stay as they are.
fn in_section(offset: usize) -> impl Fn(PdfError) -> PdfError + Copy {
    move |e| match e {
        PdfError::TooManyObjects { .. }
        | PdfError::Recursion { .. }
        | PdfError::StreamTooLarge { .. }
        | PdfError::UnsupportedFilter(_) => e,
        other => PdfError::BrokenXref {
            offset: offset as u64,
            reason: other.to_string(),
        },
    }
}

fn broken(offset: usize, reason: &str) -> PdfError {
    PdfError::BrokenXref {
        offset: offset as u64,
        reason: reason.into(),
    }
}

struct Marker {
    /// Offset of the `startxref` keyword.
    position: usize,
    /// The offset it gives.
    target: usize,
    /// Just after the `%%EOF` line.
    eof_end: usize,
}

/// Every `startxref N %%EOF` of the file, in file order.
fn startxref_markers(bytes: &[u8], limits: &PdfLimits) -> Result<Vec<Marker>, PdfError> {
    let mut markers = Vec::new();
    let mut from = 0;
    while let Some(position) = find(bytes, b"startxref", from) {
        from = position + 9;
        let mut lexer = Lexer::new(bytes, from, 1);
        let Ok(target) = lexer.unsigned() else {
            continue;
        };
        lexer.skip_space_no_comments();
        if bytes.get(lexer.pos..lexer.pos + 5) != Some(b"%%EOF") {
            continue;
        }
        let mut eof_end = lexer.pos + 5;
        if bytes.get(eof_end) == Some(&b'\r') {
            eof_end += 1;
        }
        if bytes.get(eof_end) == Some(&b'\n') {
            eof_end += 1;
        }
        if markers.len() >= limits.max_revisions.saturating_mul(2) {
            return Err(PdfError::TooManyRevisions {
                limit: limits.max_revisions,
            });
        }
        // A target of zero is the dummy of a linearized file's first page section.
        if let Ok(target) = usize::try_from(target) {
            if target > 0 {
                markers.push(Marker {
                    position,
                    target,
                    eof_end,
                });
            }
        }
        from = eof_end;
    }
    Ok(markers)
}

impl Lexer<'_> {
    fn skip_space_no_comments(&mut self) {
        while self.peek().is_some_and(super::object::is_whitespace) {
            self.pos += 1;
        }
    }
}

/// Where a stream's data ends: its `/Length` when `endstream` follows there, else the first
/// `endstream` (a wrong `/Length` is common and harmless for reading).
fn stream_extent(
    bytes: &[u8],
    start: usize,
    declared: Option<usize>,
) -> Result<std::ops::Range<usize>, PdfError> {
    if let Some(length) = declared {
        if let Some(end) = start.checked_add(length).filter(|end| *end <= bytes.len()) {
            let mut lexer = Lexer::new(bytes, end, 1);
            if lexer.eat_keyword(b"endstream") {
                return Ok(start..end);
            }
        }
    }
    let end = find(bytes, b"endstream", start).ok_or(PdfError::Syntax {
        offset: start as u64,
        reason: "stream without endstream".into(),
    })?;
    let mut data_end = end;
    if data_end > start && bytes[data_end - 1] == b'\n' {
        data_end -= 1;
    }
    if data_end > start && bytes[data_end - 1] == b'\r' {
        data_end -= 1;
    }
    Ok(start..data_end)
}

fn read_section(bytes: &[u8], offset: usize, limits: &PdfLimits) -> Result<Section, PdfError> {
    if offset >= bytes.len() {
        return Err(broken(offset, "offset past the end of the file"));
    }
    let mut lexer = Lexer::new(bytes, offset, limits.max_depth).with_max_items(limits.max_objects);
    if lexer.eat_keyword(b"xref") {
        read_table(lexer, offset, limits)
    } else {
        read_stream_section(bytes, offset, limits)
    }
}

fn read_table(
    mut lexer: Lexer<'_>,
    offset: usize,
    limits: &PdfLimits,
) -> Result<Section, PdfError> {
    let mut entries = BTreeMap::new();
    let wrap = in_section(offset);
    loop {
        if lexer.eat_keyword(b"trailer") {
            break;
        }
        let first = lexer.unsigned().map_err(wrap)?;
        let count = lexer.unsigned().map_err(wrap)?;
        if count > limits.max_objects as u64 || first.saturating_add(count) > u64::from(u32::MAX) {
            return Err(PdfError::TooManyObjects {
                context: "cross-reference subsection",
                limit: limits.max_objects,
            });
        }
        for num in first..first + count {
            let entry_offset = lexer.unsigned().map_err(wrap)?;
            let generation = lexer.unsigned().map_err(wrap)?;
            lexer.skip_space();
            let kind = lexer.peek_word();
            let entry = match kind {
                b"n" => XrefEntry::InUse {
                    offset: usize::try_from(entry_offset)
                        .map_err(|_| broken(offset, "entry offset out of range"))?,
                    generation: u16::try_from(generation)
                        .map_err(|_| broken(offset, "generation out of range"))?,
                },
                b"f" => XrefEntry::Free,
                _ => return Err(broken(lexer.pos, "entry type is neither n nor f")),
            };
            lexer.pos += 1;
            if let XrefEntry::InUse { offset: o, .. } = entry {
                if o >= lexer.buf.len() {
                    return Err(broken(
                        offset,
                        &format!("object {num} is placed past the end of the file"),
                    ));
                }
            }
            if entries.len() >= limits.max_objects {
                return Err(PdfError::TooManyObjects {
                    context: "cross-reference entries",
                    limit: limits.max_objects,
                });
            }
            // Object zero is the head of the free list, never an object.
            if num > 0 {
                entries.insert(num as u32, entry);
            }
        }
    }
    let trailer = match lexer.object().map_err(wrap)? {
        Object::Dictionary(d) => d,
        _ => return Err(broken(offset, "the trailer is not a dictionary")),
    };
    Ok(Section {
        trailer,
        entries,
        is_stream: false,
        hybrid: false,
    })
}

fn read_stream_section(
    bytes: &[u8],
    offset: usize,
    limits: &PdfLimits,
) -> Result<Section, PdfError> {
    let wrap = in_section(offset);
    let mut lexer = Lexer::new(bytes, offset, limits.max_depth).with_max_items(limits.max_objects);
    lexer
        .object_header()
        .map_err(|_| broken(offset, "neither an xref table nor an xref stream"))?;
    let Object::Dictionary(dict) = lexer.object().map_err(wrap)? else {
        return Err(broken(offset, "the xref stream has no dictionary"));
    };
    if dict.name(b"Type") != Some(b"XRef") {
        return Err(broken(
            offset,
            "the object is not an xref stream (/Type /XRef)",
        ));
    }
    let start = lexer
        .stream_start()
        .ok_or_else(|| broken(offset, "xref stream without data"))?;
    let declared = dict
        .integer(b"Length")
        .and_then(|n| usize::try_from(n).ok());
    let range = stream_extent(bytes, start, declared).map_err(wrap)?;
    let data = decode_stream(&dict, &bytes[range], limits.max_decoded_stream).map_err(wrap)?;

    let widths: Vec<usize> = match dict.get(b"W") {
        Some(Object::Array(items)) if items.len() == 3 => items
            .iter()
            .map(|w| match w {
                Object::Integer(n) if (0..=8).contains(n) => Ok(*n as usize),
                _ => Err(broken(offset, "/W entries must be integers from 0 to 8")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(broken(offset, "/W must be an array of three integers")),
    };
    let size = dict
        .integer(b"Size")
        .ok_or_else(|| broken(offset, "no /Size"))?;
    let index: Vec<i64> = match dict.get(b"Index") {
        Some(Object::Array(items)) => items
            .iter()
            .map(|i| match i {
                Object::Integer(n) if *n >= 0 => Ok(*n),
                _ => Err(broken(
                    offset,
                    "/Index entries must be non-negative integers",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => vec![0, size],
    };
    if !index.len().is_multiple_of(2) {
        return Err(broken(offset, "/Index has an odd number of entries"));
    }
    let row = widths.iter().sum::<usize>();
    if row == 0 {
        return Err(broken(offset, "/W gives empty rows"));
    }
    let mut rows = data.chunks_exact(row);
    let mut entries = BTreeMap::new();
    for pair in index.chunks_exact(2) {
        let (first, count) = (pair[0] as u64, pair[1] as u64);
        if count > limits.max_objects as u64 || first.saturating_add(count) > u64::from(u32::MAX) {
            return Err(PdfError::TooManyObjects {
                context: "cross-reference stream",
                limit: limits.max_objects,
            });
        }
        for num in first..first + count {
            let Some(fields) = rows.next() else {
                return Err(broken(
                    offset,
                    "the xref stream has fewer rows than /Index says",
                ));
            };
            let field = |i: usize| -> u64 {
                let start: usize = widths[..i].iter().sum();
                fields[start..start + widths[i]]
                    .iter()
                    .fold(0u64, |acc, b| acc << 8 | u64::from(*b))
            };
            let kind = if widths[0] == 0 { 1 } else { field(0) };
            let entry = match kind {
                0 => XrefEntry::Free,
                1 => {
                    let o = usize::try_from(field(1)).unwrap_or(usize::MAX);
                    if o >= bytes.len() {
                        return Err(broken(
                            offset,
                            &format!("object {num} is placed past the end of the file"),
                        ));
                    }
                    XrefEntry::InUse {
                        offset: o,
                        generation: u16::try_from(field(2)).unwrap_or(u16::MAX),
                    }
                }
                2 => XrefEntry::Compressed {
                    stream: u32::try_from(field(1))
                        .map_err(|_| broken(offset, "object stream number out of range"))?,
                    index: u32::try_from(field(2))
                        .map_err(|_| broken(offset, "index out of range"))?,
                },
                // Unknown types are references to the null object (§7.5.8.3).
                _ => XrefEntry::Free,
            };
            if entries.len() >= limits.max_objects {
                return Err(PdfError::TooManyObjects {
                    context: "cross-reference entries",
                    limit: limits.max_objects,
                });
            }
            if num > 0 {
                entries.insert(num as u32, entry);
            }
        }
    }
    Ok(Section {
        trailer: dict,
        entries,
        is_stream: true,
        hybrid: false,
    })
}

/// Decodes a stream's data: no filter or `/FlateDecode` (with PNG or no predictor).
pub(crate) fn decode_stream(
    dict: &Dictionary,
    raw: &[u8],
    limit: usize,
) -> Result<Vec<u8>, PdfError> {
    let filters: Vec<&[u8]> = match dict.get(b"Filter") {
        None => Vec::new(),
        Some(Object::Name(n)) => vec![n.as_slice()],
        Some(Object::Array(items)) => items
            .iter()
            .map(|i| match i {
                Object::Name(n) => Ok(n.as_slice()),
                _ => Err(PdfError::UnsupportedFilter("(not a name)".into())),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(PdfError::UnsupportedFilter("(not a name)".into())),
    };
    if filters.len() > 1 {
        return Err(PdfError::UnsupportedFilter("a chain of filters".into()));
    }
    let Some(filter) = filters.first() else {
        if raw.len() > limit {
            return Err(PdfError::StreamTooLarge { limit });
        }
        return Ok(raw.to_vec());
    };
    if *filter != b"FlateDecode" {
        return Err(PdfError::UnsupportedFilter(
            String::from_utf8_lossy(filter).into_owned(),
        ));
    }
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(raw)
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| PdfError::Decode(e.to_string()))?;
    if inflated.len() > limit {
        return Err(PdfError::StreamTooLarge { limit });
    }
    let params = match dict.get(b"DecodeParms") {
        Some(Object::Dictionary(d)) => Some(d),
        Some(Object::Array(items)) => items.first().and_then(Object::as_dict),
        _ => None,
    };
    let predictor = params.and_then(|p| p.integer(b"Predictor")).unwrap_or(1);
    if predictor < 10 {
        if predictor != 1 {
            return Err(PdfError::UnsupportedFilter("TIFF predictor".into()));
        }
        return Ok(inflated);
    }
    let columns = params.and_then(|p| p.integer(b"Columns")).unwrap_or(1);
    let colors = params.and_then(|p| p.integer(b"Colors")).unwrap_or(1);
    let bits = params
        .and_then(|p| p.integer(b"BitsPerComponent"))
        .unwrap_or(8);
    if !(1..=1 << 16).contains(&columns)
        || !(1..=4).contains(&colors)
        || !matches!(bits, 1 | 2 | 4 | 8 | 16)
    {
        return Err(PdfError::Decode("unsupported predictor parameters".into()));
    }
    let bytes_per_pixel = ((colors * bits + 7) / 8) as usize;
    let row_len = ((columns * colors * bits + 7) / 8) as usize;
    unpredict_png(&inflated, row_len, bytes_per_pixel)
}

fn unpredict_png(data: &[u8], row_len: usize, bpp: usize) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::with_capacity(data.len());
    let mut previous = vec![0u8; row_len];
    for chunk in data.chunks(row_len + 1) {
        let (&kind, row) = chunk
            .split_first()
            .ok_or_else(|| PdfError::Decode("empty predictor row".into()))?;
        let mut current = row.to_vec();
        current.resize(row_len, 0);
        for i in 0..row_len {
            let left = if i >= bpp { current[i - bpp] } else { 0 };
            let up = previous[i];
            let up_left = if i >= bpp { previous[i - bpp] } else { 0 };
            current[i] = match kind {
                0 => current[i],
                1 => current[i].wrapping_add(left),
                2 => current[i].wrapping_add(up),
                3 => current[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => {
                    let p = i16::from(left) + i16::from(up) - i16::from(up_left);
                    let (pa, pb, pc) = (
                        (p - i16::from(left)).abs(),
                        (p - i16::from(up)).abs(),
                        (p - i16::from(up_left)).abs(),
                    );
                    let predicted = if pa <= pb && pa <= pc {
                        left
                    } else if pb <= pc {
                        up
                    } else {
                        up_left
                    };
                    current[i].wrapping_add(predicted)
                }
                _ => return Err(PdfError::Decode("unknown PNG predictor".into())),
            };
        }
        out.extend_from_slice(&current);
        previous = current;
    }
    Ok(out)
}
