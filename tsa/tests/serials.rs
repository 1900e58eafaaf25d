//! Two instances (two routers, different instance ids, the same HSM key)
//! under concurrent load never issue the same serial, and every token
//! issued is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use hsm_config::KeySpec;

const SHA256: &str = "2.16.840.1.101.3.4.2.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_share_a_serial() {
    let pki = Pki::new("serials", KeySpec::EcP256);
    let a = start_tsa(&pki, 41, |_| {}).await;
    // b signs one token at a time (configured), a and a2 with the lanes
    // chosen for their EC key.
    let b = start_tsa(&pki, 42, |c| c.max_concurrent_signatures = Some(1)).await;
    assert_eq!(b.tsa.status().signing_lanes, 1);
    // A third instance started later with a's id (a restart while the old
    // process still runs, or a misconfiguration): its start time differs.
    let a2 = start_tsa(&pki, 41, |_| {}).await;
    // Each instance through both ways in (shared lanes, dedicated listener).
    let urls = [
        a.url.clone(),
        b.url.clone(),
        a2.url.clone(),
        a.listener_url.clone(),
        b.listener_url.clone(),
        a2.listener_url.clone(),
    ];

    const TASKS: usize = 12;
    const PER_TASK: usize = 60;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let urls = urls.clone();
        handles.push(tokio::spawn(async move {
            let c = client();
            let mut out = Vec::new();
            for i in 0..PER_TASK {
                let which = (t + i) % urls.len();
                let mut imprint = [0u8; 32];
                imprint[..8].copy_from_slice(&((t * PER_TASK + i) as u64).to_be_bytes());
                let q = make_query(
                    SHA256,
                    false,
                    &imprint,
                    None,
                    Some(&[1, t as u8, i as u8]),
                    false,
                    false,
                );
                let reply = post_query(&c, &urls[which], q).await;
                let tst = tst_info(&reply);
                assert_eq!(tst.message_imprint.hashed_message.as_bytes(), &imprint[..]);
                // Instance 0, 1 or 2, whichever way in.
                out.push((which % 3, tst.serial_number.as_bytes().to_vec()));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    assert_eq!(all.len(), TASKS * PER_TASK);
    let unique: HashSet<&Vec<u8>> = all.iter().map(|(_, s)| s).collect();
    assert_eq!(unique.len(), all.len(), "duplicate serial numbers");
    for (which, serial) in &all {
        // 159-bit layout: instance id in the first two octets (positive,
        // at most 160 bits; leading zero octets are not encoded in a DER
        // INTEGER).
        const OCTETS: usize = tsa::serial::SERIAL_OCTETS;
        assert!(serial.len() <= OCTETS && serial[0] & 0x80 == 0);
        let mut raw = [0u8; OCTETS];
        raw[OCTETS - serial.len()..].copy_from_slice(serial);
        let id = u16::from_be_bytes([raw[0], raw[1]]);
        assert_eq!(id, [41, 42, 41][*which]);
    }

    // Every token was recorded by the instance that issued it.
    let deadline = Instant::now() + Duration::from_secs(10);
    for (n, run) in [&a, &b, &a2].into_iter().enumerate() {
        let issued: HashSet<Vec<u8>> = all
            .iter()
            .filter(|(w, _)| *w == n)
            .map(|(_, s)| s.clone())
            .collect();
        loop {
            let recorded: HashSet<Vec<u8>> = run
                .recorder
                .tokens()
                .into_iter()
                .map(|t| t.serial)
                .collect();
            if recorded == issued {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "instance {n}: {} recorded of {} issued",
                recorded.len(),
                issued.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(run.tsa.status().tokens_issued, issued.len() as u64);
        // Under concurrent load, records were batched.
        assert!(run.recorder.batches() <= issued.len() as u64);
    }
}
