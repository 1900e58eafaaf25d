//! What a validator reads from a parsed file: signature fields, the DSS, and what each revision
//! after a signature changed.

use std::collections::{HashMap, HashSet};

use super::file::PdfFile;
use super::object::{find, Dictionary, Lexer, Object, ObjectId};
use super::PdfError;

/// What a signature dictionary holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigKind {
    /// `/Type /Sig` (or no `/Type`): a signature, PAdES B-B and up.
    Signature,
    /// `/Type /DocTimeStamp`: a document time-stamp (PAdES B-LTA).
    DocTimeStamp,
}

/// A filled signature field and its signature dictionary (`/V`).
#[derive(Clone, Debug)]
pub struct SignatureField {
    /// Fully qualified field name (parent names joined with dots).
    pub name: String,
    pub kind: SigKind,
    pub sub_filter: String,
    pub byte_range: [u64; 4],
    /// The decoded `/Contents` as stored: the DER and its zero padding.
    pub contents: Vec<u8>,
    /// `/M`, raw.
    pub signing_time: Option<String>,
    pub name_entry: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// End of the revision whose cross-reference section defines the signature dictionary.
    pub revision_end: usize,
}

impl SignatureField {
    /// Where the signed bytes end (`ByteRange[2] + ByteRange[3]`); a signature covers its
    /// revision when this equals `revision_end`.
    pub fn signed_end(&self) -> u64 {
        self.byte_range[2] + self.byte_range[3]
    }

    /// The DER of `/Contents` without its zero padding; an error when it does not start with a
    /// definite-length SEQUENCE or when non-zero bytes follow it.
    pub fn cms_der(&self) -> Result<&[u8], PdfError> {
        let not_cms = |reason| PdfError::ContentsNotCms {
            field: self.name.clone(),
            reason,
        };
        let c = &self.contents;
        if c.first() != Some(&0x30) {
            return Err(not_cms("it does not start with a SEQUENCE"));
        }
        let first_length = *c.get(1).ok_or_else(|| not_cms("it is truncated"))?;
        let (header, length) = if first_length < 0x80 {
            (2usize, usize::from(first_length))
        } else {
            let count = usize::from(first_length & 0x7f);
            if count == 0 {
                return Err(not_cms("indefinite length, not DER"));
            }
            if count > 4 {
                return Err(not_cms("length too large"));
            }
            let bytes = c
                .get(2..2 + count)
                .ok_or_else(|| not_cms("it is truncated"))?;
            (
                2 + count,
                bytes
                    .iter()
                    .fold(0usize, |acc, b| acc << 8 | usize::from(*b)),
            )
        };
        let total = header
            .checked_add(length)
            .filter(|t| *t <= c.len())
            .ok_or_else(|| not_cms("its length runs past /Contents"))?;
        if c[total..].iter().any(|b| *b != 0) {
            return Err(not_cms("non-zero bytes follow the DER structure"));
        }
        Ok(&c[..total])
    }
}

/// Validation data of a document security store (or to add to one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DssContent {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    /// VRI entries by key (uppercase hex SHA-1 of the signature's `/Contents` DER).
    pub vri: Vec<(String, VriEntry)>,
}

/// The validation data related to one signature.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VriEntry {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
}

/// What one revision after a given offset changed.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionChange {
    pub revision_end: usize,
    pub changes: Vec<Change>,
}

/// One kind of change a revision made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The DSS, its VRI or its validation data.
    Dss,
    /// A document time-stamp field and its value added.
    DocTimeStamp { field: String },
    /// A signature field and its value added, or an empty one signed.
    Signature { field: String },
    /// What only adds signature fields: widgets, their appearance, `/AcroForm` `/Fields` and
    /// `/SigFlags`, page `/Annots` extended with signature widgets, an empty signature field.
    SignatureAppearance,
    /// Document metadata: the XMP stream of the catalog's `/Metadata` (when it looks like XMP),
    /// the trailer's `/Info` dictionary, or the catalog's `/Extensions`, `/Version` or
    /// `/MarkInfo` written as direct objects. Signers such as pyHanko update these when they
    /// sign (pyHanko's default policy allows them at its LTA-updates level); whether to allow
    /// them after a signature is the caller's policy.
    Metadata { what: String },
    /// Anything else: not allowed after a signature.
    Other { object: ObjectId, what: String },
}

impl Change {
    /// Signatures first, then the DSS, appearances, and other changes by object number.
    fn rank(&self) -> (u8, u32, u16) {
        match self {
            Change::Signature { .. } | Change::DocTimeStamp { .. } => (0, 0, 0),
            Change::Dss => (1, 0, 0),
            Change::SignatureAppearance => (2, 0, 0),
            Change::Metadata { .. } => (3, 0, 0),
            Change::Other { object, .. } => (4, object.0, object.1),
        }
    }
}

/// A terminal signature field found by the walk of `/AcroForm`.
pub(crate) struct SigFieldNode {
    pub name: String,
    pub id: Option<ObjectId>,
    pub dict: Dictionary,
    pub widgets: Vec<ObjectId>,
}

/// Decodes a text string (§7.9.2.2): UTF-16BE or UTF-8 with a byte-order mark, else
/// PDFDocEncoding read as Latin-1.
pub(crate) fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|b| char::from(*b)).collect()
}

fn name_text(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl<'a> PdfFile<'a> {
    pub(crate) fn dict_as_of(
        &self,
        object: &Object,
        revision: usize,
    ) -> Result<Option<Dictionary>, PdfError> {
        Ok(match self.resolve(object, revision)? {
            Object::Dictionary(d) | Object::Stream { dict: d, .. } => Some(d),
            _ => None,
        })
    }

    pub(crate) fn catalog(
        &self,
        revision: usize,
    ) -> Result<(Option<ObjectId>, Dictionary), PdfError> {
        let root = self
            .trailer(revision)
            .get(b"Root")
            .cloned()
            .ok_or_else(|| PdfError::Structure("the trailer has no /Root".into()))?;
        let id = match root {
            Object::Reference(id) => Some(id),
            _ => None,
        };
        let dict = self
            .dict_as_of(&root, revision)?
            .ok_or_else(|| PdfError::Structure("/Root is not a dictionary".into()))?;
        Ok((id, dict))
    }

    /// Terminal signature fields of `/AcroForm` as of `revision`, walked with bounds.
    pub(crate) fn signature_field_nodes(
        &self,
        revision: usize,
    ) -> Result<Vec<SigFieldNode>, PdfError> {
        let (_, catalog) = self.catalog(revision)?;
        let Some(form) = catalog.get(b"AcroForm") else {
            return Ok(Vec::new());
        };
        let Some(form) = self.dict_as_of(form, revision)? else {
            return Ok(Vec::new());
        };
        let fields = match form.get(b"Fields") {
            Some(f) => self.resolve(f, revision)?,
            None => return Ok(Vec::new()),
        };
        let Object::Array(fields) = fields else {
            return Ok(Vec::new());
        };
        let mut stack: Vec<(Object, String, bool, usize)> = fields
            .into_iter()
            .rev()
            .map(|f| (f, String::new(), false, 0))
            .collect();
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        while let Some((item, parent, inherited_sig, depth)) = stack.pop() {
            if depth > self.limits.max_depth {
                return Err(PdfError::Recursion {
                    context: "form field /Kids".into(),
                    limit: self.limits.max_depth,
                });
            }
            let id = match item {
                Object::Reference(id) => Some(id),
                _ => None,
            };
            if let Some(id) = id {
                if !seen.insert(id) {
                    return Err(PdfError::ObjectLoop {
                        num: id.0,
                        generation: id.1,
                        context: "form field /Kids",
                    });
                }
                if seen.len() > self.limits.max_objects {
                    return Err(PdfError::TooManyObjects {
                        context: "form fields",
                        limit: self.limits.max_objects,
                    });
                }
            }
            let Some(dict) = self.dict_as_of(&item, revision)? else {
                continue;
            };
            let is_sig = match dict.name(b"FT") {
                Some(ft) => ft == b"Sig",
                None => inherited_sig,
            };
            let partial = match dict.get(b"T") {
                Some(Object::String(t)) => Some(text_string(t)),
                _ => None,
            };
            let name = match (&partial, parent.is_empty()) {
                (Some(p), true) => p.clone(),
                (Some(p), false) => format!("{parent}.{p}"),
                (None, _) => parent.clone(),
            };
            let kids = match dict.get(b"Kids") {
                Some(k) => match self.resolve(k, revision)? {
                    Object::Array(items) => items,
                    _ => Vec::new(),
                },
                None => Vec::new(),
            };
            // Kids without /T are this field's widgets; kids with /T are fields.
            let mut widgets = Vec::new();
            let mut child_fields = Vec::new();
            for kid in kids {
                let Object::Reference(kid_id) = kid else {
                    continue;
                };
                let Some(kid_dict) = self.dict_as_of(&kid, revision)? else {
                    continue;
                };
                if kid_dict.get(b"T").is_some() {
                    child_fields.push(kid);
                } else {
                    if seen.contains(&kid_id) || Some(kid_id) == id {
                        return Err(PdfError::ObjectLoop {
                            num: kid_id.0,
                            generation: kid_id.1,
                            context: "form field /Kids",
                        });
                    }
                    widgets.push(kid_id);
                }
            }
            if child_fields.is_empty() {
                if is_sig {
                    if dict.name(b"Subtype") == Some(b"Widget") {
                        widgets.extend(id);
                    }
                    found.push(SigFieldNode {
                        name,
                        id,
                        dict,
                        widgets,
                    });
                }
            } else {
                for kid in child_fields.into_iter().rev() {
                    stack.push((kid, name.clone(), is_sig, depth + 1));
                }
            }
        }
        Ok(found)
    }

    /// Every filled signature field (`/FT /Sig` with `/V`), in `/Fields` order.
    pub fn signatures(&self) -> Result<Vec<SignatureField>, PdfError> {
        self.start_call();
        let last = self.last_revision();
        let mut out = Vec::new();
        for node in self.signature_field_nodes(last)? {
            let Some(value) = node.dict.get(b"V") else {
                continue;
            };
            let value_id = match value {
                Object::Reference(id) => Some(*id),
                _ => node.id,
            };
            let Some(sig) = self.dict_as_of(value, last)? else {
                continue;
            };
            out.push(self.signature_field(node.name, &sig, value_id)?);
        }
        Ok(out)
    }

    fn signature_field(
        &self,
        field: String,
        sig: &Dictionary,
        value_id: Option<ObjectId>,
    ) -> Result<SignatureField, PdfError> {
        let len = self.bytes.len() as u64;
        let bad = |reason: &str| PdfError::BadByteRange {
            field: field.clone(),
            reason: reason.into(),
        };
        let byte_range = match sig.get(b"ByteRange") {
            None => return Err(PdfError::NoByteRange { field }),
            Some(Object::Array(items)) if items.len() == 4 => {
                let mut range = [0u64; 4];
                for (slot, item) in range.iter_mut().zip(items) {
                    *slot = match item {
                        Object::Integer(n) if *n >= 0 => *n as u64,
                        _ => return Err(bad("entries must be non-negative integers")),
                    };
                }
                range
            }
            Some(_) => return Err(bad("it must be an array of four integers")),
        };
        let [start, first_len, second_start, second_len] = byte_range;
        let first_end = start
            .checked_add(first_len)
            .ok_or_else(|| bad("overflow"))?;
        let second_end = second_start
            .checked_add(second_len)
            .ok_or_else(|| bad("overflow"))?;
        if first_end > len || second_end > len {
            return Err(PdfError::ByteRangePastEnd {
                field,
                byte_range,
                len,
            });
        }
        if start != 0 || first_end >= second_start {
            return Err(bad(
                "it must start at 0 and leave a gap between its two ranges",
            ));
        }
        let contents = match sig.get(b"Contents") {
            Some(Object::String(c)) => c.clone(),
            _ => return Err(PdfError::NoContents { field }),
        };
        if contents.len() > self.limits.max_contents {
            return Err(PdfError::ContentsTooLarge {
                field,
                size: contents.len(),
                limit: self.limits.max_contents,
            });
        }
        // The gap must be exactly `<hex>` and hold the same bytes as /Contents.
        let gap = &self.bytes[first_end as usize..second_start as usize];
        let gap_ok = gap.first() == Some(&b'<') && gap.last() == Some(&b'>') && {
            let mut lexer = Lexer::new(self.bytes, first_end as usize, 1);
            matches!(lexer.object(), Ok(Object::String(s)) if s == contents)
                && lexer.pos as u64 == second_start
        };
        if !gap_ok {
            return Err(PdfError::ByteRangeGap { field });
        }
        let kind = match sig.name(b"Type") {
            Some(b"DocTimeStamp") => SigKind::DocTimeStamp,
            _ => SigKind::Signature,
        };
        let text = |key: &[u8]| match sig.get(key) {
            Some(Object::String(s)) => Some(text_string(s)),
            _ => None,
        };
        let revision_end = value_id
            .and_then(|id| self.defining_revision(id.0, self.last_revision()))
            .and_then(|r| self.revisions().get(r))
            .map(|r| r.end)
            .unwrap_or(self.bytes.len());
        Ok(SignatureField {
            kind,
            sub_filter: sig.name(b"SubFilter").map(name_text).unwrap_or_default(),
            byte_range,
            contents,
            signing_time: text(b"M"),
            name_entry: text(b"Name"),
            reason: text(b"Reason"),
            location: text(b"Location"),
            revision_end,
            name: field,
        })
    }

    /// The DSS of the last revision, its streams decoded.
    pub fn dss(&self) -> Result<Option<DssContent>, PdfError> {
        self.start_call();
        let last = self.last_revision();
        let (_, catalog) = self.catalog(last)?;
        let Some(dss) = catalog.get(b"DSS") else {
            return Ok(None);
        };
        let Some(dss) = self.dict_as_of(dss, last)? else {
            return Ok(None);
        };
        let mut budget = self.limits.max_objects;
        let mut content = DssContent {
            certs: self.stream_list(&dss, b"Certs", last, &mut budget)?,
            ocsps: self.stream_list(&dss, b"OCSPs", last, &mut budget)?,
            crls: self.stream_list(&dss, b"CRLs", last, &mut budget)?,
            vri: Vec::new(),
        };
        if let Some(vri) = dss.get(b"VRI") {
            if let Some(vri) = self.dict_as_of(vri, last)? {
                for (key, entry) in &vri.0 {
                    let Some(entry) = self.dict_as_of(entry, last)? else {
                        continue;
                    };
                    content.vri.push((
                        name_text(key),
                        VriEntry {
                            certs: self.stream_list(&entry, b"Cert", last, &mut budget)?,
                            ocsps: self.stream_list(&entry, b"OCSP", last, &mut budget)?,
                            crls: self.stream_list(&entry, b"CRL", last, &mut budget)?,
                        },
                    ));
                }
            }
        }
        Ok(Some(content))
    }

    fn stream_list(
        &self,
        dict: &Dictionary,
        key: &[u8],
        revision: usize,
        budget: &mut usize,
    ) -> Result<Vec<Vec<u8>>, PdfError> {
        let Some(list) = dict.get(key) else {
            return Ok(Vec::new());
        };
        let Object::Array(items) = self.resolve(list, revision)? else {
            return Err(PdfError::Structure(format!(
                "DSS /{} is not an array",
                name_text(key)
            )));
        };
        let mut out = Vec::new();
        for item in items {
            *budget = budget.checked_sub(1).ok_or(PdfError::TooManyObjects {
                context: "DSS entries",
                limit: self.limits.max_objects,
            })?;
            let stream = self.resolve(&item, revision)?;
            out.push(self.stream_data(&stream)?);
        }
        Ok(out)
    }

    /// For each revision ending after `offset`, the objects it added or changed, classified.
    pub fn changes_after(&self, offset: usize) -> Result<Vec<RevisionChange>, PdfError> {
        self.start_call();
        let mut out = Vec::new();
        // Each revision's context is built once and serves as the next one's previous.
        let mut previous: Option<ChangeContext> = None;
        for (index, revision) in self.revisions().iter().enumerate() {
            if revision.end <= offset {
                continue;
            }
            if previous.is_none() && index > 0 {
                previous = Some(ChangeContext::build(self, index - 1)?);
            }
            let mut changes: Vec<Change> = Vec::new();
            let context = ChangeContext::build(self, index)?;
            for id in &revision.objects {
                for change in self.classify(*id, index, &context, previous.as_ref())? {
                    if !changes.contains(&change) {
                        changes.push(change);
                    }
                }
            }
            changes.sort_by_key(Change::rank);
            out.push(RevisionChange {
                revision_end: revision.end,
                changes,
            });
            previous = Some(context);
        }
        Ok(out)
    }

    fn same_object(&self, old: &Object, new: &Object) -> bool {
        match (old, new) {
            (Object::Stream { dict: d1, data: r1 }, Object::Stream { dict: d2, data: r2 }) => {
                let without_length = |d: &Dictionary| {
                    let mut d = d.clone();
                    d.remove(b"Length");
                    d
                };
                without_length(d1) == without_length(d2)
                    && self.bytes.get(r1.clone()) == self.bytes.get(r2.clone())
            }
            _ => old == new,
        }
    }

    fn classify(
        &self,
        id: ObjectId,
        revision: usize,
        ctx: &ChangeContext,
        prev: Option<&ChangeContext>,
    ) -> Result<Vec<Change>, PdfError> {
        let Some(new) = self.object_as_of(id, revision)? else {
            return Ok(Vec::new());
        };
        let old = match revision.checked_sub(1) {
            Some(p) => self.object_as_of(id, p)?,
            None => None,
        };
        if old.as_ref().is_some_and(|old| self.same_object(old, &new)) {
            return Ok(Vec::new());
        }
        let other = |what: String| Ok(vec![Change::Other { object: id, what }]);
        if let Some(dict) = new.as_dict() {
            if matches!(new, Object::Stream { .. })
                && matches!(dict.name(b"Type"), Some(b"XRef" | b"ObjStm"))
            {
                return Ok(Vec::new());
            }
        }
        if ctx.dss.contains(&id) {
            return Ok(vec![Change::Dss]);
        }
        if ctx.info == Some(id) && matches!(new, Object::Dictionary(_)) {
            return Ok(vec![Change::Metadata {
                what: "document information dictionary (/Info)".into(),
            }]);
        }
        if ctx.metadata == Some(id) {
            let looks_like_xmp = match &new {
                Object::Stream { dict, .. } if dict.name(b"Subtype") == Some(b"XML") => {
                    let data = self.stream_data(&new)?;
                    find(&data, b"xmpmeta", 0).is_some() && find(&data, b"<!ENTITY", 0).is_none()
                }
                _ => false,
            };
            return if looks_like_xmp {
                Ok(vec![Change::Metadata {
                    what: "XMP metadata stream".into(),
                }])
            } else {
                other("/Metadata that is not an XMP stream".into())
            };
        }
        if let Some((name, kind)) = ctx.values.get(&id) {
            if old.is_some() {
                return other(format!("the signature dictionary of {name} was changed"));
            }
            return Ok(vec![signed(name, *kind)]);
        }
        if let Some((name, kind)) = ctx.fields.get(&id) {
            let Some(old) = old else {
                return Ok(vec![kind
                    .map(|k| signed(name, k))
                    .unwrap_or(Change::SignatureAppearance)]);
            };
            let filled_now = matches!(old.as_dict(), Some(d) if d.get(b"V").is_none())
                && same_except(old.as_dict(), new.as_dict(), &[b"V", b"AP", b"F"]);
            return match (filled_now, kind) {
                (true, Some(k)) => Ok(vec![signed(name, *k)]),
                _ => other(format!("signature field {name} was changed")),
            };
        }
        if (ctx.widgets.contains(&id) || ctx.appearance.contains(&id)) && old.is_none() {
            return Ok(vec![Change::SignatureAppearance]);
        }
        let empty = ChangeContext::default();
        let prev = prev.unwrap_or(&empty);
        if ctx.catalog == Some(id) {
            if !same_except(
                old.as_ref().and_then(Object::as_dict),
                new.as_dict(),
                &[
                    b"DSS",
                    b"AcroForm",
                    b"Metadata",
                    b"Extensions",
                    b"Version",
                    b"MarkInfo",
                ],
            ) {
                return other("the document catalog".into());
            }
            let mut changes = Vec::new();
            let (old_dict, new_dict) = (old.as_ref().and_then(Object::as_dict), new.as_dict());
            for key in [&b"Metadata"[..], b"Extensions", b"Version", b"MarkInfo"] {
                let new_value = new_dict.and_then(|d| d.get(key));
                if old_dict.and_then(|d| d.get(key)) == new_value {
                    continue;
                }
                // /Metadata is a reference checked as its own object; the others must be
                // direct so that nothing else can change through them.
                let direct = key == b"Metadata" || new_value.is_none_or(|v| !holds_reference(v));
                if !direct {
                    return other(format!("catalog /{} with references", name_text(key)));
                }
                changes.push(Change::Metadata {
                    what: format!("catalog /{}", name_text(key)),
                });
            }
            if old_dict.and_then(|d| d.get(b"DSS")) != new_dict.and_then(|d| d.get(b"DSS")) {
                changes.push(Change::Dss);
            }
            let old_form = old_dict.and_then(|d| d.get(b"AcroForm"));
            let new_form = new_dict.and_then(|d| d.get(b"AcroForm"));
            if old_form != new_form {
                // A direct /AcroForm is checked here, an indirect one as its own object.
                let inline = |o: Option<&Object>| match o {
                    Some(Object::Dictionary(d)) => Some(d.clone()),
                    _ => None,
                };
                let (old_inline, new_inline) = (inline(old_form), inline(new_form));
                if new_inline.is_some()
                    && !self.form_only_adds_signatures(
                        old_inline.as_ref(),
                        new_inline.as_ref(),
                        revision,
                        ctx,
                    )?
                {
                    return other("/AcroForm in the document catalog".into());
                }
                changes.push(Change::SignatureAppearance);
            }
            return Ok(changes);
        }
        if ctx.form == Some(id) {
            let old_dict = old.as_ref().and_then(Object::as_dict);
            return if self.form_only_adds_signatures(old_dict, new.as_dict(), revision, ctx)? {
                Ok(vec![Change::SignatureAppearance])
            } else {
                other("/AcroForm".into())
            };
        }
        if ctx.fields_array == Some(id) || ctx.annots_arrays.contains(&id) {
            let added_only = self.array_only_adds(old.as_ref(), Some(&new), revision, ctx)?;
            return if added_only {
                Ok(vec![Change::SignatureAppearance])
            } else {
                other("an array of form fields or annotations".into())
            };
        }
        if ctx.pages.contains(&id) && prev.pages.contains(&id) {
            let (old_dict, new_dict) = (old.as_ref().and_then(Object::as_dict), new.as_dict());
            if !same_except(old_dict, new_dict, &[b"Annots"]) {
                return other("a page".into());
            }
            let old_annots = match old_dict.and_then(|d| d.get(b"Annots")) {
                Some(a) => Some(self.resolve(a, revision.saturating_sub(1))?),
                None => None,
            };
            let new_annots = match new_dict.and_then(|d| d.get(b"Annots")) {
                Some(a) => Some(self.resolve(a, revision)?),
                None => None,
            };
            return if self.array_only_adds(
                old_annots.as_ref(),
                new_annots.as_ref(),
                revision,
                ctx,
            )? {
                Ok(vec![Change::SignatureAppearance])
            } else {
                other("the annotations of a page".into())
            };
        }
        other(describe(&new, old.is_none()))
    }

    fn form_only_adds_signatures(
        &self,
        old: Option<&Dictionary>,
        new: Option<&Dictionary>,
        revision: usize,
        ctx: &ChangeContext,
    ) -> Result<bool, PdfError> {
        let Some(new) = new else { return Ok(false) };
        if let Some(old) = old {
            for key in [&b"DR"[..], b"DA"] {
                if old.get(key).is_some() && old.get(key) != new.get(key) {
                    return Ok(false);
                }
            }
        }
        if old.is_some() && !same_except(old, Some(new), &[b"Fields", b"SigFlags", b"DR", b"DA"]) {
            return Ok(false);
        }
        let old_fields = match old.and_then(|d| d.get(b"Fields")) {
            Some(f) => Some(self.resolve(f, revision.saturating_sub(1))?),
            None => None,
        };
        let new_fields = match new.get(b"Fields") {
            Some(f) => Some(self.resolve(f, revision)?),
            None => None,
        };
        self.array_only_adds(old_fields.as_ref(), new_fields.as_ref(), revision, ctx)
    }

    /// Whether `new` keeps every item of `old` and adds only signature fields or widgets.
    fn array_only_adds(
        &self,
        old: Option<&Object>,
        new: Option<&Object>,
        _revision: usize,
        ctx: &ChangeContext,
    ) -> Result<bool, PdfError> {
        let items = |o: Option<&Object>| match o {
            Some(Object::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let (old, new) = (items(old), items(new));
        if !old.iter().all(|o| new.contains(o)) {
            return Ok(false);
        }
        Ok(new.iter().filter(|n| !old.contains(n)).all(|n| match n {
            Object::Reference(id) => ctx.fields.contains_key(id) || ctx.widgets.contains(id),
            _ => false,
        }))
    }
}

/// Whether a direct object contains a reference anywhere inside (bounded by the parser's depth).
fn holds_reference(object: &Object) -> bool {
    match object {
        Object::Reference(_) => true,
        Object::Array(items) => items.iter().any(holds_reference),
        Object::Dictionary(d) | Object::Stream { dict: d, .. } => {
            d.0.iter().any(|(_, v)| holds_reference(v))
        }
        _ => false,
    }
}

fn signed(name: &str, kind: SigKind) -> Change {
    match kind {
        SigKind::Signature => Change::Signature {
            field: name.to_string(),
        },
        SigKind::DocTimeStamp => Change::DocTimeStamp {
            field: name.to_string(),
        },
    }
}

fn same_except(old: Option<&Dictionary>, new: Option<&Dictionary>, ignored: &[&[u8]]) -> bool {
    let strip = |d: Option<&Dictionary>| {
        let mut entries: Vec<(Vec<u8>, Object)> = d.map(|d| d.0.clone()).unwrap_or_default();
        entries.retain(|(k, _)| !ignored.contains(&k.as_slice()));
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    };
    strip(old) == strip(new)
}

fn describe(object: &Object, added: bool) -> String {
    let verb = if added { "added" } else { "changed" };
    let kind = match object {
        Object::Stream { dict, .. } => match (dict.name(b"Type"), dict.name(b"Subtype")) {
            (_, Some(sub)) => format!("stream /Subtype /{}", name_text(sub)),
            (Some(t), None) => format!("stream /Type /{}", name_text(t)),
            (None, None) => "stream (page content or other data)".into(),
        },
        Object::Dictionary(dict) => match (dict.name(b"Type"), dict.name(b"Subtype")) {
            (Some(t), Some(s)) => format!(
                "dictionary /Type /{} /Subtype /{}",
                name_text(t),
                name_text(s)
            ),
            (Some(t), None) => format!("dictionary /Type /{}", name_text(t)),
            (None, Some(s)) => format!("dictionary /Subtype /{}", name_text(s)),
            (None, None) => "dictionary".into(),
        },
        Object::Array(_) => "array".into(),
        _ => "object".into(),
    };
    format!("{kind} {verb}")
}

/// The objects of one revision that play a part in signatures, the DSS, forms and pages.
#[derive(Default)]
struct ChangeContext {
    catalog: Option<ObjectId>,
    /// The catalog's `/Metadata` and the trailer's `/Info`.
    metadata: Option<ObjectId>,
    info: Option<ObjectId>,
    form: Option<ObjectId>,
    fields_array: Option<ObjectId>,
    dss: HashSet<ObjectId>,
    /// Signature dictionaries (`/V`) by object, with their field.
    values: HashMap<ObjectId, (String, SigKind)>,
    /// Signature fields by object, with the kind of their value when filled.
    fields: HashMap<ObjectId, (String, Option<SigKind>)>,
    widgets: HashSet<ObjectId>,
    /// Objects reached from the signature widgets' `/AP`.
    appearance: HashSet<ObjectId>,
    pages: HashSet<ObjectId>,
    annots_arrays: HashSet<ObjectId>,
}

impl ChangeContext {
    fn build(file: &PdfFile<'_>, revision: usize) -> Result<Self, PdfError> {
        let mut ctx = ChangeContext::default();
        let (catalog_id, catalog) = file.catalog(revision)?;
        ctx.catalog = catalog_id;
        if let Some(Object::Reference(id)) = catalog.get(b"Metadata") {
            ctx.metadata = Some(*id);
        }
        if let Some(Object::Reference(id)) = file.trailer(revision).get(b"Info") {
            ctx.info = Some(*id);
        }
        if let Some(Object::Reference(id)) = catalog.get(b"AcroForm") {
            ctx.form = Some(*id);
            if let Some(form) = file.dict_as_of(&Object::Reference(*id), revision)? {
                if let Some(Object::Reference(fields)) = form.get(b"Fields") {
                    ctx.fields_array = Some(*fields);
                }
            }
        } else if let Some(Object::Dictionary(form)) = catalog.get(b"AcroForm") {
            if let Some(Object::Reference(fields)) = form.get(b"Fields") {
                ctx.fields_array = Some(*fields);
            }
        }
        if let Some(dss) = catalog.get(b"DSS") {
            file.collect_references(dss, revision, &mut ctx.dss)?;
        }
        let mut appearance_roots = Vec::new();
        for node in file.signature_field_nodes(revision)? {
            let value = node.dict.get(b"V");
            let kind = match value {
                Some(v) => file
                    .dict_as_of(v, revision)?
                    .map(|d| match d.name(b"Type") {
                        Some(b"DocTimeStamp") => SigKind::DocTimeStamp,
                        _ => SigKind::Signature,
                    }),
                None => None,
            };
            if let (Some(Object::Reference(v)), Some(k)) = (value, kind) {
                ctx.values.insert(*v, (node.name.clone(), k));
            }
            if let Some(id) = node.id {
                ctx.fields.insert(id, (node.name.clone(), kind));
            }
            for widget in &node.widgets {
                ctx.widgets.insert(*widget);
                if let Some(d) = file.dict_as_of(&Object::Reference(*widget), revision)? {
                    if let Some(ap) = d.get(b"AP") {
                        appearance_roots.push(ap.clone());
                    }
                }
            }
        }
        for root in appearance_roots {
            file.collect_references(&root, revision, &mut ctx.appearance)?;
        }
        file.collect_pages(revision, &catalog, &mut ctx)?;
        Ok(ctx)
    }
}

impl PdfFile<'_> {
    /// Every object reachable from `start` (bounded by depth and count).
    fn collect_references(
        &self,
        start: &Object,
        revision: usize,
        out: &mut HashSet<ObjectId>,
    ) -> Result<(), PdfError> {
        let mut stack = vec![(start.clone(), 0usize)];
        let mut visited = 0usize;
        while let Some((object, depth)) = stack.pop() {
            if depth > self.limits.max_depth {
                return Err(PdfError::Recursion {
                    context: "references from the DSS or an appearance".into(),
                    limit: self.limits.max_depth,
                });
            }
            visited += 1;
            if visited > self.limits.max_objects {
                return Err(PdfError::TooManyObjects {
                    context: "objects reached from the DSS or an appearance",
                    limit: self.limits.max_objects,
                });
            }
            match object {
                Object::Reference(id) if out.insert(id) => {
                    if let Some(target) = self.object_as_of(id, revision)? {
                        stack.push((target, depth + 1));
                    }
                }
                Object::Array(items) => stack.extend(items.into_iter().map(|i| (i, depth + 1))),
                Object::Dictionary(d) | Object::Stream { dict: d, .. } => {
                    // /Parent and /P lead back to the page tree, not into the appearance.
                    stack.extend(
                        d.0.into_iter()
                            .filter(|(k, _)| k != b"Parent" && k != b"P")
                            .map(|(_, v)| (v, depth + 1)),
                    )
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn collect_pages(
        &self,
        revision: usize,
        catalog: &Dictionary,
        ctx: &mut ChangeContext,
    ) -> Result<(), PdfError> {
        for (id, page) in self.pages(revision, catalog)? {
            ctx.pages.insert(id);
            if let Some(Object::Reference(annots)) = page.get(b"Annots") {
                ctx.annots_arrays.insert(*annots);
            }
        }
        Ok(())
    }

    /// The leaves of the page tree in order, walked with bounds.
    pub(crate) fn pages(
        &self,
        revision: usize,
        catalog: &Dictionary,
    ) -> Result<Vec<(ObjectId, Dictionary)>, PdfError> {
        let Some(Object::Reference(root)) = catalog.get(b"Pages") else {
            return Err(PdfError::Structure(
                "the catalog has no indirect /Pages".into(),
            ));
        };
        let mut stack = vec![(*root, 0usize)];
        let mut seen = HashSet::new();
        let mut pages = Vec::new();
        while let Some((id, depth)) = stack.pop() {
            if depth > self.limits.max_depth {
                return Err(PdfError::Recursion {
                    context: "page tree /Kids".into(),
                    limit: self.limits.max_depth,
                });
            }
            if !seen.insert(id) {
                return Err(PdfError::ObjectLoop {
                    num: id.0,
                    generation: id.1,
                    context: "page tree /Kids",
                });
            }
            if seen.len() > self.limits.max_objects {
                return Err(PdfError::TooManyObjects {
                    context: "page tree",
                    limit: self.limits.max_objects,
                });
            }
            let Some(node) = self.dict_as_of(&Object::Reference(id), revision)? else {
                continue;
            };
            match node.name(b"Type") {
                Some(b"Pages") => {
                    let kids = match node.get(b"Kids") {
                        Some(k) => self.resolve(k, revision)?,
                        None => Object::Null,
                    };
                    if let Object::Array(kids) = kids {
                        for kid in kids.into_iter().rev() {
                            if let Object::Reference(kid) = kid {
                                stack.push((kid, depth + 1));
                            }
                        }
                    }
                }
                _ => pages.push((id, node)),
            }
        }
        Ok(pages)
    }
}
