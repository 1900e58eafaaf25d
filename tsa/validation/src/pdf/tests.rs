//! Round trips, hostile input and a large file, on PDFs written by hand here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Write;

use super::file::PdfFile;
use super::object::Object;
use super::write::Update;
use super::*;

/// `<< dict >> stream data endstream` with the right /Length.
fn stream_body(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A whole PDF from object bodies: a classic table, or an xref stream (Flate, PNG Up
/// predictor) with the `packed` objects in an object stream.
fn build(objects: &[(u32, Vec<u8>)], xref_stream: bool, packed: &[u32]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let highest = objects.iter().map(|o| o.0).max().unwrap();
    let mut entries: BTreeMap<u32, (u8, u64, u16)> = BTreeMap::new();
    let mut next = highest + 1;
    if xref_stream && !packed.is_empty() {
        let stm = next;
        next += 1;
        let mut header = String::new();
        let mut bodies = Vec::new();
        for (index, num) in packed.iter().enumerate() {
            let body = &objects.iter().find(|o| o.0 == *num).unwrap().1;
            header.push_str(&format!("{num} {} ", bodies.len()));
            bodies.extend_from_slice(body);
            bodies.push(b'\n');
            entries.insert(*num, (2, u64::from(stm), index as u16));
        }
        let mut data = header.into_bytes();
        let first = data.len();
        data.extend_from_slice(&bodies);
        entries.insert(stm, (1, out.len() as u64, 0));
        out.extend_from_slice(format!("{stm} 0 obj\n").as_bytes());
        let compressed = deflate(&data);
        out.extend_from_slice(&stream_body(
            &format!(
                "/Type /ObjStm /N {} /First {first} /Filter /FlateDecode",
                packed.len()
            ),
            &compressed,
        ));
        out.extend_from_slice(b"\nendobj\n");
    }
    for (num, body) in objects {
        if xref_stream && packed.contains(num) {
            continue;
        }
        entries.insert(*num, (1, out.len() as u64, 0));
        out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let id = "/ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]";
    let xref_at = out.len();
    if xref_stream {
        let xref_num = next;
        entries.insert(xref_num, (1, xref_at as u64, 0));
        let size = xref_num + 1;
        let mut rows = Vec::new();
        let mut previous = [0u8; 7];
        for num in 0..size {
            let (kind, field, generation) =
                entries
                    .get(&num)
                    .copied()
                    .unwrap_or((0, 0, if num == 0 { 65535 } else { 0 }));
            let mut row = [0u8; 7];
            row[0] = kind;
            row[1..5].copy_from_slice(&(field as u32).to_be_bytes());
            row[5..7].copy_from_slice(&generation.to_be_bytes());
            rows.push(2u8);
            rows.extend(row.iter().zip(previous).map(|(b, p)| b.wrapping_sub(p)));
            previous = row;
        }
        out.extend_from_slice(format!("{xref_num} 0 obj\n").as_bytes());
        let dict = format!("/Type /XRef /Size {size} /W [1 4 2] /Root 1 0 R {id} /Filter /FlateDecode /DecodeParms << /Columns 7 /Predictor 12 >>");
        out.extend_from_slice(&stream_body(&dict, &deflate(&rows)));
        out.extend_from_slice(b"\nendobj\n");
    } else {
        let size = highest + 1;
        out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f\r\n").as_bytes());
        for num in 1..size {
            match entries.get(&num) {
                Some((_, offset, _)) => {
                    out.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes())
                }
                None => out.extend_from_slice(b"0000000000 00000 f\r\n"),
            }
        }
        out.extend_from_slice(format!("trailer\n<< /Size {size} /Root 1 0 R {id} >>\n").as_bytes());
    }
    out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
    out
}

/// A document of `pages` pages, each with a small content stream.
fn document(pages: usize, xref_stream: bool) -> Vec<u8> {
    let mut objects = vec![(1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec())];
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push((
        2,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .into_bytes(),
    ));
    objects.push((
        3,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ));
    for i in 0..pages {
        let page = 4 + 2 * i as u32;
        objects.push((
            page,
            format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>", page + 1).into_bytes(),
        ));
        objects.push((
            page + 1,
            stream_body(
                "",
                format!("BT /F1 12 Tf 72 720 Td (Page {}) Tj ET", i + 1).as_bytes(),
            ),
        ));
    }
    let packed: Vec<u32> = if xref_stream {
        objects.iter().map(|o| o.0).filter(|n| *n <= 4).collect()
    } else {
        Vec::new()
    };
    build(&objects, xref_stream, &packed)
}

/// A DER SEQUENCE standing in for a CMS signature.
fn fake_cms(len: usize) -> Vec<u8> {
    let mut der = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
    der.extend((0..len).map(|i| (i % 251) as u8 + 1));
    der
}

fn request(field: &str) -> SignatureRequest<'_> {
    SignatureRequest {
        field_name: field,
        kind: SigKind::Signature,
        sub_filter: "ETSI.CAdES.detached",
        contents_capacity: 8192,
        signing_time: Some("D:20261207120000+00'00'"),
        name: Some("Dr Hélène Dupré"),
        reason: Some("Ordonnance"),
        location: Some("Lyon"),
        visible: None,
    }
}

/// Prepares, fills and returns the signed file.
fn sign(original: &[u8], req: &SignatureRequest<'_>) -> (Vec<u8>, PreparedSignature) {
    let mut prepared = prepare_signature(original, req).unwrap();
    prepared.fill(&fake_cms(1000)).unwrap();
    let mut out = original.to_vec();
    out.extend_from_slice(&prepared.appended);
    (out, prepared)
}

/// Appends an update made by `edit` with the writer's own machinery.
fn update_with(original: &[u8], edit: impl FnOnce(&PdfFile<'_>, &mut Update<'_, '_>)) -> Vec<u8> {
    let file = PdfFile::parse(original, &PdfLimits::default()).unwrap();
    let mut update = Update::new(&file).unwrap();
    edit(&file, &mut update);
    let (appended, _) = update.finish().unwrap();
    let mut out = original.to_vec();
    out.extend_from_slice(&appended);
    out
}

/// Replaces the first occurrence of `from` (byte offsets of the rest stay as they were).
fn replace_first(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = super::object::find(bytes, from.as_bytes(), 0).expect("pattern present");
    [&bytes[..at], to.as_bytes(), &bytes[at + from.len()..]].concat()
}

fn last_xref_offset(bytes: &[u8]) -> usize {
    (0..bytes.len())
        .rev()
        .find(|i| bytes[*i..].starts_with(b"xref\n0 "))
        .expect("an xref table")
}

fn parse(bytes: &[u8]) -> Result<PdfFile<'_>, PdfError> {
    PdfFile::parse(bytes, &PdfLimits::default())
}

#[test]
fn reads_a_classic_file_and_an_xref_stream_file_alike() {
    for xref_stream in [false, true] {
        let bytes = document(3, xref_stream);
        let file = parse(&bytes).unwrap();
        assert_eq!(file.revisions().len(), 1);
        assert_eq!(file.revisions()[0].end, bytes.len());
        assert_eq!(file.revisions()[0].xref_stream, xref_stream);
        let (_, catalog) = file.catalog(0).unwrap();
        let pages = file.pages(0, &catalog).unwrap();
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].0, (4, 0));
        assert!(file.signatures().unwrap().is_empty());
        assert_eq!(file.dss().unwrap(), None);
    }
}

#[test]
fn signs_and_reads_back_the_field_with_its_byte_range() {
    for xref_stream in [false, true] {
        let original = document(1, xref_stream);
        let (signed, prepared) = sign(&original, &request("Signature1"));
        assert_eq!(
            &signed[..original.len()],
            &original[..],
            "earlier bytes are never rewritten"
        );
        let file = parse(&signed).unwrap();
        assert_eq!(file.revisions().len(), 2);
        assert_eq!(file.revisions()[1].xref_stream, xref_stream);
        let sigs = file.signatures().unwrap();
        assert_eq!(sigs.len(), 1);
        let sig = &sigs[0];
        assert_eq!(sig.name, "Signature1");
        assert_eq!(sig.kind, SigKind::Signature);
        assert_eq!(sig.sub_filter, "ETSI.CAdES.detached");
        assert_eq!(sig.byte_range, prepared.byte_range);
        assert_eq!(sig.signed_end(), signed.len() as u64);
        assert_eq!(sig.revision_end, signed.len());
        assert_eq!(sig.contents.len(), 8192);
        assert_eq!(sig.cms_der().unwrap(), &fake_cms(1000)[..]);
        assert_eq!(sig.name_entry.as_deref(), Some("Dr Hélène Dupré"));
        assert_eq!(sig.signing_time.as_deref(), Some("D:20261207120000+00'00'"));
        // The gap is exactly <hex>; the signed parts are everything else.
        let [_, first_len, second_start, _] = sig.byte_range.map(|v| v as usize);
        assert_eq!(signed[first_len], b'<');
        assert_eq!(signed[second_start - 1], b'>');
        let parts: Vec<u8> = prepared.signed_parts(&original).concat();
        let expected: Vec<u8> = [&signed[..first_len], &signed[second_start..]].concat();
        assert_eq!(parts, expected);
        // Filling again with another value changes only the placeholder.
        let mut again = prepared.clone();
        again.fill(&fake_cms(10)).unwrap();
        assert_eq!(again.signed_parts(&original).concat(), expected);
        assert!(matches!(
            again.fill(&vec![0x30; 9000]),
            Err(PdfError::PlaceholderTooSmall {
                size: 9000,
                capacity: 8192
            })
        ));
        let changes = file.changes_after(original.len()).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].changes,
            vec![
                Change::Signature {
                    field: "Signature1".into()
                },
                Change::SignatureAppearance
            ],
            "{changes:?}"
        );
    }
}

#[test]
fn a_visible_signature_on_a_later_page_renders_accents_in_win_ansi() {
    let original = document(3, true);
    let lines = ["Signé par Dr Hélène Dupré", "à Lyon, ça va"];
    let mut req = request("Visible");
    req.visible = Some(VisibleField {
        page: 2,
        rect: [300.0, 50.0, 550.0, 110.0],
        lines: &lines,
    });
    let (signed, _) = sign(&original, &req);
    let file = parse(&signed).unwrap();
    let (_, catalog) = file.catalog(1).unwrap();
    let pages = file.pages(1, &catalog).unwrap();
    let annots = pages[2].1.get(b"Annots").unwrap();
    let Object::Array(annots) = annots else {
        panic!("direct array expected")
    };
    let widget = file.resolve(&annots[0], 1).unwrap();
    let ap = widget
        .as_dict()
        .unwrap()
        .get(b"AP")
        .unwrap()
        .as_dict()
        .unwrap()
        .get(b"N")
        .unwrap();
    let stream = file.resolve(ap, 1).unwrap();
    let content = file.stream_data(&stream).unwrap();
    let text = String::from_utf8_lossy(&content);
    assert!(
        text.contains("(Sign\\351 par Dr H\\351l\\350ne Dupr\\351) Tj"),
        "{text}"
    );
    assert!(text.contains("(\\340 Lyon, \\347a va) Tj"), "{text}");
    assert!(matches!(
        prepare_signature(&original, &{
            let mut r = request("Far");
            r.visible = Some(VisibleField {
                page: 3,
                rect: [0.0; 4],
                lines: &[],
            });
            r
        }),
        Err(PdfError::NoSuchPage { page: 3, count: 3 })
    ));
    let changes = file.changes_after(original.len()).unwrap();
    assert!(
        changes[0]
            .changes
            .iter()
            .all(|c| !matches!(c, Change::Other { .. })),
        "{changes:?}"
    );
}

/// A hybrid-reference file: a table for the plain objects, `/XRefStm` for those in an object
/// stream (the catalog and page tree here).
fn hybrid_document() -> Vec<u8> {
    let stream_file = document(1, true);
    let tail_at = (0..stream_file.len())
        .rev()
        .find(|i| stream_file[*i..].starts_with(b"startxref"))
        .unwrap();
    let mut out = stream_file[..tail_at].to_vec();
    let offset_of =
        |num: u32| super::object::find(&out, format!("\n{num} 0 obj").as_bytes(), 0).unwrap() + 1;
    let (content, object_stream, xref_stream) = (offset_of(5), offset_of(6), offset_of(7));
    let table_at = out.len();
    out.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f\r\n5 2\n{content:010} 00000 n\r\n{object_stream:010} 00000 n\r\ntrailer\n<< /Size 8 /Root 1 0 R /XRefStm {xref_stream} >>\nstartxref\n{table_at}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

/// A linearized layout: a first-page section at the start (with the dummy `startxref 0`) whose
/// `/Prev` is the main section at the end, which the last `startxref` does not point to.
fn linearized_document() -> Vec<u8> {
    let objects = [
        (1u32, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
        (
            3,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_vec(),
        ),
        (
            4,
            stream_body("", b"BT /F1 12 Tf 72 720 Td (Linearized) Tj ET"),
        ),
    ];
    let header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let linearization = b"5 0 obj\n<< /Linearized 1 >>\nendobj\n".to_vec();
    let first_page = |lin_at: usize, main_at: usize| {
        format!(
            "xref\n5 1\n{lin_at:010} 00000 n\r\ntrailer\n<< /Size 6 /Root 1 0 R /Prev {main_at:010} >>\nstartxref\n0\n%%EOF\n"
        )
        .into_bytes()
    };
    let lin_at = header.len();
    let first_page_at = lin_at + linearization.len();
    let body_at = first_page_at + first_page(0, 0).len();
    let mut body = Vec::new();
    let mut offsets = Vec::new();
    for (num, object) in &objects {
        offsets.push(body_at + body.len());
        body.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
        body.extend_from_slice(object);
        body.extend_from_slice(b"\nendobj\n");
    }
    let main_at = body_at + body.len();
    let mut main = b"xref\n0 5\n0000000000 65535 f\r\n".to_vec();
    for offset in offsets {
        main.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
    }
    main.extend_from_slice(
        format!("trailer\n<< /Size 5 >>\nstartxref\n{first_page_at}\n%%EOF\n").as_bytes(),
    );
    [
        header,
        linearization,
        first_page(lin_at, main_at),
        body,
        main,
    ]
    .concat()
}

#[test]
fn hybrid_and_linearized_files_read_and_sign() {
    for (label, original) in [
        ("hybrid", hybrid_document()),
        ("linearized", linearized_document()),
    ] {
        let file = parse(&original).unwrap();
        assert_eq!(file.revisions().len(), 1, "{label}: one revision");
        assert_eq!(file.revisions()[0].end, original.len(), "{label}");
        assert_eq!(file.revisions()[0].hybrid, label == "hybrid");
        let (_, catalog) = file.catalog(0).unwrap();
        assert_eq!(file.pages(0, &catalog).unwrap().len(), 1, "{label}");
        let (signed, prepared) = sign(&original, &request("Sig1"));
        let file = parse(&signed).unwrap();
        assert_eq!(file.revisions().len(), 2, "{label}");
        let sigs = file.signatures().unwrap();
        assert_eq!(sigs[0].byte_range, prepared.byte_range, "{label}");
        let changes = file.changes_after(original.len()).unwrap();
        assert_eq!(
            changes[0].changes,
            vec![
                Change::Signature {
                    field: "Sig1".into()
                },
                Change::SignatureAppearance
            ],
            "{label}"
        );
    }
}

#[test]
fn a_second_signature_is_an_allowed_change_after_the_first() {
    for xref_stream in [false, true] {
        let original = document(2, xref_stream);
        let (first, _) = sign(&original, &request("Sig1"));
        assert!(
            matches!(prepare_signature(&first, &request("Sig1")), Err(PdfError::FieldExists(name)) if name == "Sig1")
        );
        let (second, _) = sign(&first, &request("Sig2"));
        let file = parse(&second).unwrap();
        let sigs = file.signatures().unwrap();
        assert_eq!(
            sigs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["Sig1", "Sig2"]
        );
        assert_eq!(sigs[0].revision_end, first.len());
        assert_eq!(sigs[0].signed_end(), first.len() as u64);
        assert_eq!(sigs[1].revision_end, second.len());
        let changes = file.changes_after(sigs[0].revision_end).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].revision_end, second.len());
        assert_eq!(
            changes[0].changes,
            vec![
                Change::Signature {
                    field: "Sig2".into()
                },
                Change::SignatureAppearance
            ]
        );
    }
}

#[test]
fn dss_then_document_time_stamp_are_allowed_and_the_dss_merges() {
    for xref_stream in [false, true] {
        let original = document(1, xref_stream);
        let (signed, _) = sign(&original, &request("Sig1"));
        let sig = parse(&signed).unwrap().signatures().unwrap().remove(0);
        let key = "0123456789ABCDEF0123456789ABCDEF01234567".to_string();
        let add = DssContent {
            certs: vec![b"cert-a".to_vec(), b"cert-b".to_vec()],
            ocsps: vec![b"ocsp-a".to_vec()],
            crls: vec![],
            vri: vec![(
                key.clone(),
                VriEntry {
                    certs: vec![b"cert-a".to_vec()],
                    ocsps: vec![b"ocsp-a".to_vec()],
                    crls: vec![b"crl-a".to_vec()],
                },
            )],
        };
        let mut with_dss = signed.clone();
        with_dss.extend_from_slice(&append_dss(&signed, &add).unwrap());
        // A second round with one known and one new certificate reuses the known stream.
        let more = DssContent {
            certs: vec![b"cert-b".to_vec(), b"cert-c".to_vec()],
            ..Default::default()
        };
        let mut with_more = with_dss.clone();
        with_more.extend_from_slice(&append_dss(&with_dss, &more).unwrap());
        let mut ts_req = request("DocTS1");
        ts_req.kind = SigKind::DocTimeStamp;
        ts_req.sub_filter = "ETSI.RFC3161";
        ts_req.signing_time = None;
        let (stamped, _) = sign(&with_more, &ts_req);

        let file = parse(&stamped).unwrap();
        assert_eq!(file.revisions().len(), 5);
        let dss = file.dss().unwrap().unwrap();
        assert_eq!(
            dss.certs,
            vec![b"cert-a".to_vec(), b"cert-b".to_vec(), b"cert-c".to_vec()]
        );
        assert_eq!(dss.ocsps, vec![b"ocsp-a".to_vec()]);
        assert_eq!(dss.crls, vec![b"crl-a".to_vec()]);
        assert_eq!(dss.vri.len(), 1);
        assert_eq!(dss.vri[0].0, key);
        assert_eq!(dss.vri[0].1.crls, vec![b"crl-a".to_vec()]);
        let sigs = file.signatures().unwrap();
        assert_eq!(sigs[1].kind, SigKind::DocTimeStamp);
        assert_eq!(sigs[1].sub_filter, "ETSI.RFC3161");
        let changes = file.changes_after(sig.revision_end).unwrap();
        let kinds: Vec<Vec<Change>> = changes.into_iter().map(|c| c.changes).collect();
        assert_eq!(
            kinds,
            vec![
                vec![Change::Dss],
                vec![Change::Dss],
                vec![
                    Change::DocTimeStamp {
                        field: "DocTS1".into()
                    },
                    Change::SignatureAppearance
                ]
            ]
        );
    }
}

#[test]
fn a_file_with_a_prior_update_signs_and_keeps_its_revisions() {
    for xref_stream in [false, true] {
        let original = document(1, xref_stream);
        let updated = update_with(&original, |_, update| {
            update.put_stream(
                (5, 0),
                Default::default(),
                b"BT /F1 12 Tf 72 700 Td (Edited) Tj ET",
            );
        });
        let (signed, _) = sign(&updated, &request("Sig1"));
        let file = parse(&signed).unwrap();
        assert_eq!(
            file.revisions().iter().map(|r| r.end).collect::<Vec<_>>(),
            [original.len(), updated.len(), signed.len()]
        );
        // An xref stream is itself an object of its revision.
        let expected = if xref_stream {
            vec![(5, 0), (8, 0)]
        } else {
            vec![(5, 0)]
        };
        assert_eq!(file.revisions()[1].objects, expected);
        assert_eq!(file.signatures().unwrap()[0].revision_end, signed.len());
    }
}

#[test]
fn changed_page_content_or_a_new_annotation_after_a_signature_is_other() {
    let original = document(1, false);
    let (signed, _) = sign(&original, &request("Sig1"));
    let end = signed.len();
    let content_changed = update_with(&signed, |_, update| {
        update.put_stream(
            (5, 0),
            Default::default(),
            b"BT /F1 12 Tf 72 700 Td (Pay 1000 EUR) Tj ET",
        );
    });
    let changes = parse(&content_changed).unwrap().changes_after(end).unwrap();
    assert!(
        matches!(
            &changes[0].changes[..],
            [Change::Other { object: (5, 0), .. }]
        ),
        "{changes:?}"
    );

    let annotated = update_with(&signed, |file, update| {
        let (_, catalog) = file.catalog(1).unwrap();
        let (page_id, mut page) = file.pages(1, &catalog).unwrap().remove(0);
        let note = update.allocate().unwrap();
        update.put(
            note,
            &Lexer_object(
                b"<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /Contents (changed) >>",
            ),
        );
        let Some(Object::Array(mut annots)) = page.get(b"Annots").cloned() else {
            panic!("annots")
        };
        annots.push(Object::Reference(note));
        page.set(b"Annots", Object::Array(annots));
        update.put(page_id, &Object::Dictionary(page));
    });
    let changes = parse(&annotated).unwrap().changes_after(end).unwrap();
    let others = changes[0]
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Other { .. }))
        .count();
    assert_eq!(others, 2, "{changes:?}");
}

#[test]
fn metadata_updates_are_told_apart_from_other_changes() {
    let original = document(1, false);
    let (signed, _) = sign(&original, &request("Sig1"));
    let end = signed.len();
    let with_xmp = |xml: &'static [u8]| {
        update_with(&signed, move |file, update| {
            let (catalog_id, mut catalog) = file.catalog(1).unwrap();
            let xmp = update.allocate().unwrap();
            let mut dict = super::object::Dictionary::default();
            dict.set(b"Type", Object::Name(b"Metadata".to_vec()));
            dict.set(b"Subtype", Object::Name(b"XML".to_vec()));
            update.put_stream(xmp, dict, xml);
            catalog.set(b"Metadata", Object::Reference(xmp));
            catalog.set(b"Version", Object::Name(b"2.0".to_vec()));
            update.put(catalog_id.unwrap(), &Object::Dictionary(catalog));
        })
    };
    let good = with_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'></x:xmpmeta>");
    let changes = parse(&good).unwrap().changes_after(end).unwrap();
    assert_eq!(
        changes[0].changes,
        vec![
            Change::Metadata {
                what: "catalog /Metadata".into()
            },
            Change::Metadata {
                what: "catalog /Version".into()
            },
            Change::Metadata {
                what: "XMP metadata stream".into()
            },
        ]
    );
    let not_xmp = with_xmp(b"BT (hidden) Tj ET");
    let changes = parse(&not_xmp).unwrap().changes_after(end).unwrap();
    assert!(
        changes[0]
            .changes
            .iter()
            .any(|c| matches!(c, Change::Other { what, .. } if what.contains("not an XMP"))),
        "{changes:?}"
    );
    // The catalog gaining any other key is not metadata.
    let opened = update_with(&signed, |file, update| {
        let (catalog_id, mut catalog) = file.catalog(1).unwrap();
        catalog.set(
            b"OpenAction",
            Lexer_object(b"<< /S /JavaScript /JS (app.alert(1)) >>"),
        );
        update.put(catalog_id.unwrap(), &Object::Dictionary(catalog));
    });
    let changes = parse(&opened).unwrap().changes_after(end).unwrap();
    assert!(
        matches!(
            &changes[0].changes[..],
            [Change::Other { object: (1, 0), .. }]
        ),
        "{changes:?}"
    );
}

#[allow(non_snake_case)]
fn Lexer_object(text: &[u8]) -> Object {
    super::object::Lexer::new(text, 0, 8).object().unwrap()
}

// --- Hostile input: each a clear error. ---

fn signature_file(value: &str) -> Vec<u8> {
    let objects = vec![
        (1, b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /SigFlags 3 >> >>".to_vec()),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
        (3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>".to_vec()),
        (4, b"<< /FT /Sig /T (Bad) /V 5 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0] /P 3 0 R >>".to_vec()),
        (5, value.as_bytes().to_vec()),
    ];
    build(&objects, false, &[])
}

#[test]
fn a_signature_dictionary_without_byte_range_is_refused() {
    let bytes = signature_file("<< /Type /Sig /SubFilter /ETSI.CAdES.detached /Contents <3000> >>");
    assert!(
        matches!(parse(&bytes).unwrap().signatures(), Err(PdfError::NoByteRange { field }) if field == "Bad")
    );
}

#[test]
fn a_byte_range_past_the_end_is_refused() {
    let bytes = signature_file("<< /Type /Sig /ByteRange [0 10 20 99999999] /Contents <3000> >>");
    let error = parse(&bytes).unwrap().signatures().unwrap_err();
    assert!(
        matches!(
            error,
            PdfError::ByteRangePastEnd {
                byte_range: [0, 10, 20, 99999999],
                ..
            }
        ),
        "{error}"
    );
    let bytes = signature_file("<< /Type /Sig /ByteRange [0 10 20] /Contents <3000> >>");
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::BadByteRange { .. })
    ));
    let bytes = signature_file("<< /Type /Sig /ByteRange [0 10 9223372036854775807 9223372036854775807] /Contents <3000> >>");
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::ByteRangePastEnd { .. } | PdfError::BadByteRange { .. })
    ));
}

#[test]
fn a_byte_range_whose_gap_is_not_the_contents_is_refused() {
    let bytes = signature_file("<< /Type /Sig /ByteRange [0 10 20 30] /Contents <3000> >>");
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::ByteRangeGap { .. })
    ));
}

#[test]
fn contents_that_are_not_cms_are_an_error_of_cms_der() {
    let original = document(1, false);
    let mut prepared = prepare_signature(&original, &request("Sig1")).unwrap();
    prepared.fill(b"%PDF not a signature").unwrap();
    let signed = [&original[..], &prepared.appended].concat();
    let sig = parse(&signed).unwrap().signatures().unwrap().remove(0);
    assert!(matches!(
        sig.cms_der(),
        Err(PdfError::ContentsNotCms {
            reason: "it does not start with a SEQUENCE",
            ..
        })
    ));
    prepared
        .fill(&[0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00])
        .unwrap();
    let signed = [&original[..], &prepared.appended].concat();
    let sig = parse(&signed).unwrap().signatures().unwrap().remove(0);
    assert!(matches!(
        sig.cms_der(),
        Err(PdfError::ContentsNotCms {
            reason: "indefinite length, not DER",
            ..
        })
    ));
    prepared.fill(&[0x30, 0x82, 0xff, 0xff, 0x02]).unwrap();
    let signed = [&original[..], &prepared.appended].concat();
    let sig = parse(&signed).unwrap().signatures().unwrap().remove(0);
    assert!(matches!(
        sig.cms_der(),
        Err(PdfError::ContentsNotCms {
            reason: "its length runs past /Contents",
            ..
        })
    ));
    let bytes = signature_file("<< /Type /Sig /ByteRange [0 10 20 30] /Contents 12 >>");
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::NoContents { .. })
    ));
}

#[test]
fn broken_xref_data_is_refused() {
    let good = document(1, false);
    let xref_at = last_xref_offset(&good);
    // startxref pointing at the middle of an object.
    let mut bad = good.clone();
    let tail = format!("startxref\n{xref_at}\n%%EOF\n");
    let start = bad.len() - tail.len();
    bad.truncate(start);
    bad.extend_from_slice(format!("startxref\n{}\n%%EOF\n", xref_at - 7).as_bytes());
    assert!(
        matches!(parse(&bad), Err(PdfError::BrokenXref { .. })),
        "{:?}",
        parse(&bad).err()
    );
    // startxref past the end.
    bad.truncate(start);
    bad.extend_from_slice(b"startxref\n99999999\n%%EOF\n");
    assert!(matches!(
        parse(&bad),
        Err(PdfError::BrokenXref {
            offset: 99999999,
            ..
        })
    ));
    // An entry pointing past the end.
    let mut corrupted = good.clone();
    let first_entry = super::object::find(&good, b"65535 f\r\n", 0).unwrap() + 9;
    corrupted[first_entry..first_entry + 10].copy_from_slice(b"0099999999");
    assert!(
        matches!(parse(&corrupted), Err(PdfError::BrokenXref { .. })),
        "{:?}",
        parse(&corrupted).err()
    );
    // An entry pointing at the wrong object is found when the object is read.
    let mut shifted = good.clone();
    let second_entry = first_entry + 20;
    let wrong = &good[first_entry..first_entry + 10].to_vec();
    shifted[second_entry..second_entry + 10].copy_from_slice(wrong);
    let file = parse(&shifted).unwrap();
    assert!(matches!(
        file.object((2, 0)),
        Err(PdfError::BrokenXref { .. })
    ));
    // No startxref at all, and not a PDF.
    assert!(matches!(
        parse(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"),
        Err(PdfError::NoStartXref)
    ));
    assert!(matches!(parse(b"GIF89a"), Err(PdfError::NotAPdf)));
}

#[test]
fn a_prev_loop_in_the_xref_chain_is_refused() {
    let good = document(1, false);
    let xref_at = last_xref_offset(&good);
    let looping = replace_first(
        &good,
        "/Root 1 0 R /ID",
        &format!("/Prev {xref_at} /Root 1 0 R /ID"),
    );
    // The trailer grew; the xref offset did not move (the trailer is after it).
    assert!(
        matches!(parse(&looping), Err(PdfError::XrefLoop { offset }) if offset as usize == xref_at),
        "{:?}",
        parse(&looping).err()
    );
}

#[test]
fn recursive_object_graphs_are_refused_or_walked_once() {
    // A page tree whose /Kids contains itself.
    let objects = vec![
        (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
        (
            2,
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 >>".to_vec(),
        ),
        (
            3,
            b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 595 842] >>".to_vec(),
        ),
    ];
    let bytes = build(&objects, false, &[]);
    assert!(matches!(
        prepare_signature(&bytes, &request("S")),
        Err(PdfError::ObjectLoop { num: 2, .. })
    ));
    // A form field whose /Kids contains itself, and whose /Parent is itself.
    let objects = vec![
        (
            1,
            b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>".to_vec(),
        ),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
        (
            3,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec(),
        ),
        (
            4,
            b"<< /FT /Sig /T (Loop) /Parent 4 0 R /Kids [4 0 R] >>".to_vec(),
        ),
    ];
    let bytes = build(&objects, false, &[]);
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::ObjectLoop { num: 4, .. })
    ));
    // References that only lead to each other.
    let objects = vec![(1, b"2 0 R".to_vec()), (2, b"1 0 R".to_vec())];
    let bytes = build(&objects, false, &[]);
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::ObjectLoop { .. })
    ));
    // Nesting deeper than the limit inside an object.
    let deep = format!("<< /Type /Catalog /Pages 2 0 R /X {} >>", "[".repeat(5000));
    let objects = vec![(1, deep.into_bytes())];
    let bytes = build(&objects, false, &[]);
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::Recursion { limit: 64, .. })
    ));
}

#[test]
fn files_over_the_size_limit_and_encrypted_files_are_refused() {
    // Zeroed pages from the allocator: the check comes before any byte is read.
    let huge = vec![0u8; 200 * 1024 * 1024];
    assert!(
        matches!(parse(&huge), Err(PdfError::TooLarge { size, limit }) if size == 200 * 1024 * 1024 && limit == 100 * 1024 * 1024)
    );
    drop(huge);
    let small_limits = PdfLimits {
        max_bytes: 100,
        ..PdfLimits::default()
    };
    assert!(matches!(
        PdfFile::parse(&document(1, false), &small_limits),
        Err(PdfError::TooLarge { .. })
    ));
    let encrypted = replace_first(
        &document(1, false),
        "/Root 1 0 R /ID",
        "/Root 1 0 R /Encrypt 3 0 R /ID",
    );
    assert!(
        matches!(parse(&encrypted), Err(PdfError::Encrypted)),
        "{:?}",
        parse(&encrypted).err()
    );
}

#[test]
fn limits_on_revisions_and_objects_hold() {
    let mut bytes = document(1, false);
    for _ in 0..5 {
        bytes = update_with(&bytes, |_, update| {
            update.put_stream((5, 0), Default::default(), b"q Q")
        });
    }
    let limits = PdfLimits {
        max_revisions: 3,
        ..PdfLimits::default()
    };
    assert!(matches!(
        PdfFile::parse(&bytes, &limits),
        Err(PdfError::TooManyRevisions { limit: 3 })
    ));
    let limits = PdfLimits {
        max_objects: 3,
        ..PdfLimits::default()
    };
    assert!(matches!(
        PdfFile::parse(&bytes, &limits),
        Err(PdfError::TooManyObjects { .. })
    ));
    let huge_subsection = replace_first(&document(1, false), "xref\n0 6", "xref\n0 4000000000");
    assert!(
        matches!(
            parse(&huge_subsection),
            Err(PdfError::TooManyObjects { .. })
        ),
        "{:?}",
        parse(&huge_subsection).err()
    );
}

#[test]
fn reads_and_decoded_bytes_are_bounded_per_call() {
    let mut bytes = document(2, false);
    for _ in 0..4 {
        bytes = update_with(&bytes, |_, update| {
            update.put_stream((5, 0), Default::default(), b"q Q")
        });
    }
    let limits = PdfLimits {
        max_object_reads: 20,
        ..PdfLimits::default()
    };
    let file = PdfFile::parse(&bytes, &limits).unwrap();
    assert!(matches!(
        file.changes_after(0),
        Err(PdfError::TooManyObjects {
            context: "objects read by one call",
            limit: 20
        })
    ));
    // Each call has its own budget: a small call after a refused one still works.
    assert!(file.signatures().unwrap().is_empty());

    // One array of two million values: refused before it takes their memory.
    let huge = format!(
        "<< /Type /Catalog /Pages 2 0 R /Junk [{}] >>",
        "0 ".repeat(2_000_000)
    );
    let bytes = build(&[(1, huge.into_bytes())], false, &[]);
    assert!(matches!(
        parse(&bytes).unwrap().signatures(),
        Err(PdfError::TooManyObjects {
            context: "values parsed in one object",
            limit: 1_000_000
        })
    ));

    // An object stream that inflates far beyond its size (white space compresses well).
    let padded = format!("<< /Type /Catalog /Pages 2 0 R {} >>", " ".repeat(2 << 20));
    let objects = vec![
        (1, padded.into_bytes()),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
        (
            3,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec(),
        ),
    ];
    let bomb = build(&objects, true, &[1, 2, 3]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let limits = PdfLimits {
        max_decoded_stream: 1 << 20,
        ..PdfLimits::default()
    };
    let file = PdfFile::parse(&bomb, &limits).unwrap();
    assert!(
        matches!(file.signatures(), Err(PdfError::StreamTooLarge { limit }) if limit == 1 << 20)
    );
    let limits = PdfLimits {
        max_decoded_total: 1 << 20,
        ..PdfLimits::default()
    };
    let file = PdfFile::parse(&bomb, &limits).unwrap();
    assert!(
        matches!(file.signatures(), Err(PdfError::StreamTooLarge { limit }) if limit == 1 << 20)
    );
    assert!(parse(&bomb).unwrap().signatures().unwrap().is_empty());
}

/// Every truncation and many single-byte corruptions of signed files: errors, never a panic.
#[test]
fn corrupted_files_never_panic() {
    for xref_stream in [false, true] {
        let original = document(2, xref_stream);
        let (signed, _) = sign(
            &original,
            &SignatureRequest {
                contents_capacity: 1100,
                ..request("Sig1")
            },
        );
        let exercise = |bytes: &[u8]| {
            if let Ok(file) = parse(bytes) {
                if let Ok(sigs) = file.signatures() {
                    for sig in &sigs {
                        let _ = sig.cms_der();
                    }
                }
                let _ = file.dss();
                let _ = file.changes_after(0);
            }
            let _ = prepare_signature(bytes, &request("New"));
            let _ = append_dss(
                bytes,
                &DssContent {
                    certs: vec![vec![1]],
                    ..Default::default()
                },
            );
        };
        for len in (0..signed.len()).step_by(7) {
            exercise(&signed[..len]);
        }
        let mut seed = 0x2545f491u32;
        for _ in 0..1500 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let mut bytes = signed.clone();
            let at = seed as usize % bytes.len();
            bytes[at] =
                [b'0', b'9', b'[', b'<', b'(', b'/', b' ', b'R', 0xff][(seed >> 24) as usize % 9];
            exercise(&bytes);
        }
    }
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A 50 MB PDF (one large incompressible stream) is prepared, signed and read back without
/// copies of the file: the peak resident size (VmHWM, reset through /proc/self/clear_refs) grows
/// by far less than the file.
#[test]
fn a_fifty_megabyte_file_is_held_once() {
    const SIZE: usize = 50 * 1024 * 1024;
    let mut data = Vec::with_capacity(SIZE);
    let mut seed = 0x9e3779b9u32;
    while data.len() < SIZE {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        data.extend_from_slice(&seed.to_le_bytes());
    }
    let mut objects = vec![
        (1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()),
        (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
        (3, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 4 0 R >> >> >>".to_vec()),
    ];
    objects.push((4, stream_body("/Type /XObject /Subtype /Image /Width 4096 /Height 3200 /ColorSpace /DeviceRGB /BitsPerComponent 8", &data)));
    drop(data);
    let mut file_bytes = build(&objects, false, &[]);
    drop(objects);
    file_bytes.reserve(64 * 1024);
    let original_len = file_bytes.len();

    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let mut prepared = prepare_signature(&file_bytes, &request("Big")).unwrap();
    let prepare_time = started.elapsed();
    // A digest over the signed parts, as the signer would compute it.
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in prepared.signed_parts(&file_bytes) {
        hasher.update(part);
    }
    let _digest = hasher.finalize();
    prepared.fill(&fake_cms(1000)).unwrap();
    file_bytes.extend_from_slice(&prepared.appended);
    let started = std::time::Instant::now();
    let file = parse(&file_bytes).unwrap();
    let sigs = file.signatures().unwrap();
    let changes = file.changes_after(original_len).unwrap();
    let read_time = started.elapsed();
    let growth_kib = peak_rss_kib().saturating_sub(before);
    eprintln!(
        "50 MB file: {} bytes, prepare {prepare_time:?}, parse+signatures+changes {read_time:?}, peak RSS growth {growth_kib} KiB (reset: {reset})",
        file_bytes.len()
    );
    assert_eq!(sigs[0].signed_end(), file_bytes.len() as u64);
    assert!(changes[0]
        .changes
        .iter()
        .all(|c| !matches!(c, Change::Other { .. })));
    if reset {
        assert!(growth_kib < 16 * 1024, "peak grew by {growth_kib} KiB");
    }
}
