//! Incremental updates (ISO 32000-2 §7.5.6): a signature field with a `/Contents` placeholder,
//! or DSS additions, appended after the original bytes, which are never rewritten.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::file::PdfFile;
use super::object::{
    write_dict, write_literal_string, write_name, write_object, Dictionary, Object, ObjectId,
};
use super::read::{DssContent, SigKind};
use super::{PdfError, PdfLimits};

/// What signature field to add.
#[derive(Clone, Debug)]
pub struct SignatureRequest<'r> {
    /// Partial name of the new top-level field; must not contain a dot.
    pub field_name: &'r str,
    pub kind: SigKind,
    /// `ETSI.CAdES.detached` or `ETSI.RFC3161`.
    pub sub_filter: &'r str,
    /// Bytes reserved for the DER of the CMS signature or time-stamp token.
    pub contents_capacity: usize,
    /// `/M`, e.g. `D:20260101120000+00'00'`.
    pub signing_time: Option<&'r str>,
    pub name: Option<&'r str>,
    pub reason: Option<&'r str>,
    pub location: Option<&'r str>,
    /// A visible widget; `None` gives an invisible one on the first page.
    pub visible: Option<VisibleField<'r>>,
}

/// Where and what a visible signature shows.
#[derive(Clone, Debug)]
pub struct VisibleField<'r> {
    /// Zero-based page index.
    pub page: usize,
    /// `[x1 y1 x2 y2]` in default user space.
    pub rect: [f32; 4],
    /// Lines drawn in Helvetica (WinAnsiEncoding: Latin accents render).
    pub lines: &'r [&'r str],
}

/// The section to append, with its placeholder to fill once the signature is made.
#[derive(Clone, Debug)]
pub struct PreparedSignature {
    /// The incremental update; `/Contents` holds zeros until [`PreparedSignature::fill`].
    pub appended: Vec<u8>,
    /// Relative to the whole output (original followed by `appended`).
    pub byte_range: [u64; 4],
    original_len: usize,
    /// Offset of `<` of the placeholder within `appended`.
    contents_offset: usize,
    capacity: usize,
}

impl PreparedSignature {
    /// Writes the DER (hex, then zero padding) into the placeholder.
    pub fn fill(&mut self, der: &[u8]) -> Result<(), PdfError> {
        if der.len() > self.capacity {
            return Err(PdfError::PlaceholderTooSmall {
                size: der.len(),
                capacity: self.capacity,
            });
        }
        let start = self.contents_offset + 1;
        let hex = self
            .appended
            .get_mut(start..start + 2 * self.capacity)
            .ok_or_else(|| {
                PdfError::Structure("placeholder outside the appended section".into())
            })?;
        hex.fill(b'0');
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (pair, byte) in hex.chunks_exact_mut(2).zip(der) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0xf)];
        }
        Ok(())
    }

    /// The bytes the signature covers, in order: `original` (unchanged), then the appended
    /// section up to the placeholder and after it. Hash these three pieces.
    pub fn signed_parts<'s>(&'s self, original: &'s [u8]) -> [&'s [u8]; 3] {
        let gap_end = self.contents_offset + 2 * self.capacity + 2;
        let original = &original[..self.original_len.min(original.len())];
        [
            original,
            &self.appended[..self.contents_offset],
            self.appended.get(gap_end..).unwrap_or_default(),
        ]
    }

    pub fn contents_capacity(&self) -> usize {
        self.capacity
    }
}

/// Objects of one incremental update, serialized in the order they are added.
pub(super) struct Update<'f, 'a> {
    file: &'f PdfFile<'a>,
    next_number: u32,
    objects: Vec<(ObjectId, Vec<u8>)>,
}

impl<'f, 'a> Update<'f, 'a> {
    pub(super) fn new(file: &'f PdfFile<'a>) -> Result<Self, PdfError> {
        let size = file
            .trailer(file.last_revision())
            .integer(b"Size")
            .unwrap_or(0);
        let next_number = u32::try_from(size)
            .map_err(|_| PdfError::Structure("trailer /Size out of range".into()))?;
        // Some writers give a /Size that is too small; never reuse a defined number.
        let highest = file
            .revisions()
            .iter()
            .flat_map(|r| r.objects.iter().map(|o| o.0))
            .max()
            .unwrap_or(0);
        Ok(Update {
            file,
            next_number: next_number.max(highest.saturating_add(1)),
            objects: Vec::new(),
        })
    }

    pub(super) fn allocate(&mut self) -> Result<ObjectId, PdfError> {
        let id = (self.next_number, 0);
        self.next_number = self.next_number.checked_add(1).ok_or_else(|| {
            PdfError::Structure("no object number left after the trailer's /Size".into())
        })?;
        Ok(id)
    }

    pub(super) fn put(&mut self, id: ObjectId, object: &Object) {
        let mut body = Vec::new();
        write_object(&mut body, object);
        self.put_raw(id, body);
    }

    pub(super) fn put_raw(&mut self, id: ObjectId, body: Vec<u8>) {
        self.objects.retain(|(existing, _)| *existing != id);
        self.objects.push((id, body));
    }

    pub(super) fn put_stream(&mut self, id: ObjectId, mut dict: Dictionary, data: &[u8]) {
        dict.set(b"Length", Object::Integer(data.len() as i64));
        let mut body = Vec::new();
        write_dict(&mut body, &dict);
        body.extend_from_slice(b"\nstream\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.put_raw(id, body);
    }

    /// The appended bytes and, for each object, the offset of its body within them.
    pub(super) fn finish(mut self) -> Result<(Vec<u8>, HashMap<ObjectId, usize>), PdfError> {
        let original = self.file.bytes();
        let mut out = Vec::new();
        if !matches!(original.last(), Some(b'\n' | b'\r')) {
            out.push(b'\n');
        }
        let mut offsets: Vec<(ObjectId, usize)> = Vec::new();
        let mut body_offsets = HashMap::new();
        for (id, body) in &self.objects {
            offsets.push((*id, original.len() + out.len()));
            out.extend_from_slice(format!("{} {} obj\n", id.0, id.1).as_bytes());
            body_offsets.insert(*id, out.len());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let last = self.file.last_revision();
        let mut trailer = self.file.trailer(last).clone();
        let stream_section = self.file.revisions().last().is_some_and(|r| r.xref_stream);
        for key in [
            &b"Prev"[..],
            b"XRefStm",
            b"Type",
            b"W",
            b"Index",
            b"Filter",
            b"DecodeParms",
            b"Length",
            b"Encrypt",
        ] {
            trailer.remove(key);
        }
        trailer.set(b"Prev", Object::Integer(self.file.last_xref_offset as i64));
        let xref_offset = original.len() + out.len();
        if stream_section {
            let xref_id = self.allocate()?;
            offsets.push((xref_id, xref_offset));
            offsets.sort_unstable();
            let mut rows = Vec::new();
            let mut index = Vec::new();
            for run in runs(&offsets) {
                index.push(Object::Integer(i64::from(run[0].0 .0)));
                index.push(Object::Integer(run.len() as i64));
                for (id, offset) in run {
                    let offset = u32::try_from(*offset)
                        .map_err(|_| PdfError::Structure("offset beyond 4 GiB".into()))?;
                    rows.push(1u8);
                    rows.extend_from_slice(&offset.to_be_bytes());
                    rows.extend_from_slice(&id.1.to_be_bytes());
                }
            }
            trailer.set(b"Type", Object::Name(b"XRef".to_vec()));
            trailer.set(b"Size", Object::Integer(i64::from(self.next_number)));
            trailer.set(
                b"W",
                Object::Array(vec![
                    Object::Integer(1),
                    Object::Integer(4),
                    Object::Integer(2),
                ]),
            );
            trailer.set(b"Index", Object::Array(index));
            trailer.set(b"Length", Object::Integer(rows.len() as i64));
            out.extend_from_slice(format!("{} 0 obj\n", xref_id.0).as_bytes());
            write_dict(&mut out, &trailer);
            out.extend_from_slice(b"\nstream\n");
            out.extend_from_slice(&rows);
            out.extend_from_slice(b"\nendstream\nendobj\n");
        } else {
            offsets.sort_unstable();
            out.extend_from_slice(b"xref\n");
            for run in runs(&offsets) {
                out.extend_from_slice(format!("{} {}\n", run[0].0 .0, run.len()).as_bytes());
                for (id, offset) in run {
                    out.extend_from_slice(format!("{offset:010} {:05} n\r\n", id.1).as_bytes());
                }
            }
            trailer.set(b"Size", Object::Integer(i64::from(self.next_number)));
            out.extend_from_slice(b"trailer\n");
            write_dict(&mut out, &trailer);
            out.push(b'\n');
        }
        out.extend_from_slice(format!("startxref\n{xref_offset}\n%%EOF\n").as_bytes());
        Ok((out, body_offsets))
    }
}

/// Splits sorted entries into runs of consecutive object numbers.
fn runs(entries: &[(ObjectId, usize)]) -> Vec<&[(ObjectId, usize)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=entries.len() {
        if i == entries.len() || entries[i].0 .0 != entries[i - 1].0 .0 + 1 {
            out.push(&entries[start..i]);
            start = i;
        }
    }
    out
}

/// A text string: PDFDocEncoding when every character is printable ASCII or Latin-1 (where the
/// two agree), UTF-16BE with a byte-order mark otherwise.
fn text_object(text: &str) -> Object {
    let latin = text
        .chars()
        .all(|c| matches!(c as u32, 0x20..=0x7e | 0xa1..=0xac | 0xae..=0xff));
    if latin {
        Object::String(text.chars().map(|c| c as u8).collect())
    } else {
        let mut bytes = vec![0xfe, 0xff];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        Object::String(bytes)
    }
}

/// A character in WinAnsiEncoding (Windows-1252); `?` when it has none.
fn win_ansi(c: char) -> u8 {
    match c as u32 {
        0x20..=0x7e | 0xa0..=0xff => c as u32 as u8,
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            '„' => 0x84,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            'Š' => 0x8a,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            'š' => 0x9a,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => b'?',
        },
    }
}

fn reference(id: ObjectId) -> Object {
    Object::Reference(id)
}

fn name(n: &str) -> Object {
    Object::Name(n.as_bytes().to_vec())
}

/// The placeholder of `/ByteRange`: four numbers of up to ten digits, patched in place.
const BYTE_RANGE_WIDTH: usize = 3 + 3 * 11;

/// Prepares an incremental update adding a signature field whose `/Contents` is a placeholder.
pub fn prepare_signature(
    original: &[u8],
    req: &SignatureRequest<'_>,
) -> Result<PreparedSignature, PdfError> {
    prepare_signature_with_limits(original, req, &PdfLimits::default())
}

/// [`prepare_signature`] with explicit limits for reading the original.
pub fn prepare_signature_with_limits(
    original: &[u8],
    req: &SignatureRequest<'_>,
    limits: &PdfLimits,
) -> Result<PreparedSignature, PdfError> {
    if req.field_name.is_empty() || req.field_name.contains('.') {
        return Err(PdfError::InvalidRequest(
            "the field name must be non-empty and without dots".into(),
        ));
    }
    if req.contents_capacity == 0 || req.contents_capacity > limits.max_contents {
        return Err(PdfError::InvalidRequest(format!(
            "contents capacity must be from 1 to {} bytes",
            limits.max_contents
        )));
    }
    if req.sub_filter.is_empty() || !req.sub_filter.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PdfError::InvalidRequest(
            "the sub-filter must be a plain name".into(),
        ));
    }
    let file = PdfFile::parse(original, limits)?;
    let last = file.last_revision();
    if file
        .signature_field_nodes(last)?
        .iter()
        .any(|f| f.name == req.field_name)
    {
        return Err(PdfError::FieldExists(req.field_name.to_string()));
    }
    let (catalog_id, mut catalog) = file.catalog(last)?;
    let catalog_id =
        catalog_id.ok_or_else(|| PdfError::Structure("/Root is not an indirect object".into()))?;
    let pages = file.pages(last, &catalog)?;
    let page_index = req.visible.as_ref().map_or(0, |v| v.page);
    let (page_id, mut page) = pages.get(page_index).cloned().ok_or(PdfError::NoSuchPage {
        page: page_index,
        count: pages.len(),
    })?;

    let mut update = Update::new(&file)?;
    let value_id = update.allocate()?;
    let field_id = update.allocate()?;
    let appearance_id = update.allocate()?;

    // The signature dictionary, written by hand to know where the placeholders are.
    let mut value = Vec::new();
    let type_name = match req.kind {
        SigKind::Signature => "Sig",
        SigKind::DocTimeStamp => "DocTimeStamp",
    };
    value.extend_from_slice(
        format!("<</Type/{type_name}/Filter/Adobe.PPKLite/SubFilter").as_bytes(),
    );
    write_name(&mut value, req.sub_filter.as_bytes());
    value.extend_from_slice(b"/ByteRange ");
    let byte_range_at = value.len();
    value.extend_from_slice(format!("[{:width$}]", "", width = BYTE_RANGE_WIDTH - 2).as_bytes());
    value.extend_from_slice(b"/Contents ");
    let contents_at = value.len();
    value.push(b'<');
    value.resize(value.len() + 2 * req.contents_capacity, b'0');
    value.push(b'>');
    for (key, text) in [
        ("M", req.signing_time),
        ("Name", req.name),
        ("Reason", req.reason),
        ("Location", req.location),
    ] {
        if let Some(text) = text {
            value.extend_from_slice(format!("/{key}").as_bytes());
            write_object(&mut value, &text_object(text));
        }
    }
    value.extend_from_slice(b">>");
    update.put_raw(value_id, value);

    // The appearance: an empty form for an invisible field, text lines for a visible one.
    let rect = req.visible.as_ref().map_or([0.0; 4], |v| v.rect);
    let (width, height) = ((rect[2] - rect[0]).abs(), (rect[3] - rect[1]).abs());
    let mut appearance = Dictionary::default();
    appearance.set(b"Type", name("XObject"));
    appearance.set(b"Subtype", name("Form"));
    appearance.set(
        b"BBox",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(0),
            Object::Real(f64::from(width)),
            Object::Real(f64::from(height)),
        ]),
    );
    let mut content = Vec::new();
    if let Some(visible) = req.visible.as_ref().filter(|v| !v.lines.is_empty()) {
        let font_id = update.allocate()?;
        let mut font = Dictionary::default();
        font.set(b"Type", name("Font"));
        font.set(b"Subtype", name("Type1"));
        font.set(b"BaseFont", name("Helvetica"));
        font.set(b"Encoding", name("WinAnsiEncoding"));
        update.put(font_id, &Object::Dictionary(font));
        let mut fonts = Dictionary::default();
        fonts.set(b"F1", reference(font_id));
        let mut resources = Dictionary::default();
        resources.set(b"Font", Object::Dictionary(fonts));
        appearance.set(b"Resources", Object::Dictionary(resources));
        let count = visible.lines.len() as f32;
        let size = ((height - 4.0) / count / 1.2).clamp(1.0, 10.0);
        let leading = size * 1.2;
        content.extend_from_slice(
            format!(
                "q BT /F1 {size:.2} Tf {leading:.2} TL 2 {:.2} Td\n",
                height - 2.0 - size
            )
            .as_bytes(),
        );
        for (i, line) in visible.lines.iter().enumerate() {
            if i > 0 {
                content.extend_from_slice(b"T* ");
            }
            let encoded: Vec<u8> = line.chars().map(win_ansi).collect();
            write_literal_string(&mut content, &encoded);
            content.extend_from_slice(b" Tj\n");
        }
        content.extend_from_slice(b"ET Q");
    }
    update.put_stream(appearance_id, appearance, &content);

    // The field merged with its widget.
    let mut field = Dictionary::default();
    field.set(b"FT", name("Sig"));
    field.set(b"T", text_object(req.field_name));
    field.set(b"V", reference(value_id));
    field.set(b"Type", name("Annot"));
    field.set(b"Subtype", name("Widget"));
    // Print and Locked.
    field.set(b"F", Object::Integer(132));
    field.set(
        b"Rect",
        Object::Array(rect.iter().map(|v| Object::Real(f64::from(*v))).collect()),
    );
    field.set(b"P", reference(page_id));
    let mut ap = Dictionary::default();
    ap.set(b"N", reference(appearance_id));
    field.set(b"AP", Object::Dictionary(ap));
    update.put(field_id, &Object::Dictionary(field));

    // The page's /Annots, extended where it lives.
    match page.get(b"Annots").cloned() {
        Some(Object::Reference(annots_id)) => {
            let mut items = match file.resolve(&Object::Reference(annots_id), last)? {
                Object::Array(items) => items,
                _ => return Err(PdfError::Structure("page /Annots is not an array".into())),
            };
            items.push(reference(field_id));
            update.put(annots_id, &Object::Array(items));
        }
        Some(Object::Array(mut items)) => {
            items.push(reference(field_id));
            page.set(b"Annots", Object::Array(items));
            update.put(page_id, &Object::Dictionary(page));
        }
        _ => {
            page.set(b"Annots", Object::Array(vec![reference(field_id)]));
            update.put(page_id, &Object::Dictionary(page));
        }
    }

    // /AcroForm: created, or its /Fields extended, with /SigFlags 3 (signatures exist, append only).
    let extend_form =
        |form: &mut Dictionary, update: &mut Update<'_, '_>| -> Result<(), PdfError> {
            match form.get(b"Fields").cloned() {
                Some(Object::Reference(fields_id)) => {
                    let mut items = match file.resolve(&Object::Reference(fields_id), last)? {
                        Object::Array(items) => items,
                        _ => {
                            return Err(PdfError::Structure(
                                "/AcroForm /Fields is not an array".into(),
                            ))
                        }
                    };
                    items.push(reference(field_id));
                    update.put(fields_id, &Object::Array(items));
                }
                Some(Object::Array(mut items)) => {
                    items.push(reference(field_id));
                    form.set(b"Fields", Object::Array(items));
                }
                _ => form.set(b"Fields", Object::Array(vec![reference(field_id)])),
            }
            let flags = form.integer(b"SigFlags").unwrap_or(0);
            form.set(b"SigFlags", Object::Integer(flags | 3));
            Ok(())
        };
    match catalog.get(b"AcroForm").cloned() {
        Some(Object::Reference(form_id)) => {
            let mut form = file
                .dict_as_of(&Object::Reference(form_id), last)?
                .ok_or_else(|| PdfError::Structure("/AcroForm is not a dictionary".into()))?;
            extend_form(&mut form, &mut update)?;
            update.put(form_id, &Object::Dictionary(form));
        }
        Some(Object::Dictionary(mut form)) => {
            extend_form(&mut form, &mut update)?;
            catalog.set(b"AcroForm", Object::Dictionary(form));
            update.put(catalog_id, &Object::Dictionary(catalog));
        }
        _ => {
            let form_id = update.allocate()?;
            let mut form = Dictionary::default();
            extend_form(&mut form, &mut update)?;
            update.put(form_id, &Object::Dictionary(form));
            catalog.set(b"AcroForm", reference(form_id));
            update.put(catalog_id, &Object::Dictionary(catalog));
        }
    }

    let (mut appended, bodies) = update.finish()?;
    let value_at = *bodies
        .get(&value_id)
        .ok_or_else(|| PdfError::Structure("signature dictionary not written".into()))?;
    let contents_offset = value_at + contents_at;
    let total = original.len() + appended.len();
    let first_len = original.len() + contents_offset;
    let second_start = first_len + 2 * req.contents_capacity + 2;
    let byte_range = [
        0,
        first_len as u64,
        second_start as u64,
        (total - second_start) as u64,
    ];
    let text = format!("[0 {} {} {}", byte_range[1], byte_range[2], byte_range[3]);
    if text.len() > BYTE_RANGE_WIDTH - 1 {
        return Err(PdfError::Structure(
            "offsets too large for the /ByteRange placeholder".into(),
        ));
    }
    let patched = format!("{text:width$}]", width = BYTE_RANGE_WIDTH - 1);
    let at = value_at + byte_range_at;
    appended
        .get_mut(at..at + BYTE_RANGE_WIDTH)
        .ok_or_else(|| PdfError::Structure("placeholder outside the appended section".into()))?
        .copy_from_slice(patched.as_bytes());
    Ok(PreparedSignature {
        appended,
        byte_range,
        original_len: original.len(),
        contents_offset,
        capacity: req.contents_capacity,
    })
}

/// An incremental update adding validation data to the DSS (created or merged). Streams whose
/// bytes the DSS already holds are reused; VRI entries are merged by key.
pub fn append_dss(original: &[u8], add: &DssContent) -> Result<Vec<u8>, PdfError> {
    append_dss_with_limits(original, add, &PdfLimits::default())
}

/// [`append_dss`] with explicit limits for reading the original.
pub fn append_dss_with_limits(
    original: &[u8],
    add: &DssContent,
    limits: &PdfLimits,
) -> Result<Vec<u8>, PdfError> {
    let file = PdfFile::parse(original, limits)?;
    let last = file.last_revision();
    let (catalog_id, mut catalog) = file.catalog(last)?;
    let catalog_id =
        catalog_id.ok_or_else(|| PdfError::Structure("/Root is not an indirect object".into()))?;
    let existing_ref = catalog.get(b"DSS").cloned();
    let mut dss = match &existing_ref {
        Some(o) => file.dict_as_of(o, last)?.unwrap_or_default(),
        None => Dictionary::default(),
    };
    let mut update = Update::new(&file)?;
    // Streams already present, by the digest of their decoded bytes.
    let mut known: HashMap<[u8; 32], ObjectId> = HashMap::new();
    let mut lists: HashMap<&'static [u8], Vec<Object>> = HashMap::new();
    for key in [&b"Certs"[..], b"OCSPs", b"CRLs"] {
        let items = match dss.get(key) {
            Some(o) => match file.resolve(o, last)? {
                Object::Array(items) => items,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        if items.len() > limits.max_objects {
            return Err(PdfError::TooManyObjects {
                context: "DSS entries",
                limit: limits.max_objects,
            });
        }
        for item in &items {
            if let Object::Reference(id) = item {
                let data = file.stream_data(&file.resolve(item, last)?)?;
                known.insert(Sha256::digest(&data).into(), *id);
            }
        }
        lists.insert(key, items);
    }
    let mut stream_for = |data: &[u8],
                          key: &'static [u8],
                          update: &mut Update<'_, '_>,
                          lists: &mut HashMap<&'static [u8], Vec<Object>>|
     -> Result<ObjectId, PdfError> {
        let digest: [u8; 32] = Sha256::digest(data).into();
        let id = match known.get(&digest) {
            Some(id) => *id,
            None => {
                let id = update.allocate()?;
                update.put_stream(id, Dictionary::default(), data);
                known.insert(digest, id);
                id
            }
        };
        let list = lists.entry(key).or_default();
        if !list.contains(&reference(id)) {
            list.push(reference(id));
        }
        Ok(id)
    };
    for (data, key) in add
        .certs
        .iter()
        .map(|d| (d, &b"Certs"[..]))
        .chain(add.ocsps.iter().map(|d| (d, &b"OCSPs"[..])))
        .chain(add.crls.iter().map(|d| (d, &b"CRLs"[..])))
    {
        stream_for(data, key, &mut update, &mut lists)?;
    }
    if !add.vri.is_empty() {
        let vri_ref = dss.get(b"VRI").cloned();
        let mut vri = match &vri_ref {
            Some(o) => file.dict_as_of(o, last)?.unwrap_or_default(),
            None => Dictionary::default(),
        };
        for (key, entry) in &add.vri {
            let mut entry_dict = match vri.get(key.as_bytes()) {
                Some(o) => file.dict_as_of(o, last)?.unwrap_or_default(),
                None => Dictionary::default(),
            };
            for (datas, list_key, entry_key) in [
                (&entry.certs, &b"Certs"[..], &b"Cert"[..]),
                (&entry.ocsps, b"OCSPs", b"OCSP"),
                (&entry.crls, b"CRLs", b"CRL"),
            ] {
                let mut items = match entry_dict.get(entry_key) {
                    Some(o) => match file.resolve(o, last)? {
                        Object::Array(items) => items,
                        _ => Vec::new(),
                    },
                    None => Vec::new(),
                };
                for data in datas {
                    let id = stream_for(data, list_key, &mut update, &mut lists)?;
                    if !items.contains(&reference(id)) {
                        items.push(reference(id));
                    }
                }
                if !items.is_empty() {
                    entry_dict.set(entry_key, Object::Array(items));
                }
            }
            vri.set(key.as_bytes(), Object::Dictionary(entry_dict));
        }
        let vri_id = match vri_ref {
            Some(Object::Reference(id)) => id,
            _ => update.allocate()?,
        };
        update.put(vri_id, &Object::Dictionary(vri));
        dss.set(b"VRI", reference(vri_id));
    }
    for key in [&b"Certs"[..], b"OCSPs", b"CRLs"] {
        match lists.remove(key) {
            Some(items) if !items.is_empty() => dss.set(key, Object::Array(items)),
            _ => {}
        }
    }
    dss.set(b"Type", name("DSS"));
    match existing_ref {
        Some(Object::Reference(id)) => update.put(id, &Object::Dictionary(dss)),
        _ => {
            let id = update.allocate()?;
            update.put(id, &Object::Dictionary(dss));
            catalog.set(b"DSS", reference(id));
            update.put(catalog_id, &Object::Dictionary(catalog));
        }
    }
    let (appended, _) = update.finish()?;
    Ok(appended)
}
