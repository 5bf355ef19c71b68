//! Compares building a redirect URL: a template without macros, the demo's offer template
//! with click id, affiliate and an `s1` needing percent-encoding, and issuing the signed
//! click id (HMAC-SHA256) that such a URL carries: without and with a 36-character
//! affiliate's click id (a UUID) inside, which the HMAC also covers.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use smartlink::click_id::{Claims, ClickSigner};
use smartlink::template::{Macro, MacroValues, Template};
use smartlink::template::{push_encoded, push_number};
use smartlink::vocab::SourceKind;

struct Values<'a> {
    click_id: &'a str,
    s1: &'a str,
}

impl MacroValues for Values<'_> {
    fn write_value(&mut self, m: Macro, out: &mut String) {
        match m {
            Macro::ClickId => out.push_str(self.click_id),
            Macro::AffiliateId => push_number(out, 67890),
            Macro::Sub(0) => push_encoded(out, self.s1),
            _ => {}
        }
    }
}

fn bench(c: &mut Criterion) {
    let plain = Template::parse("https://yourdomain.com/no-offer").unwrap();
    let offer = Template::parse(
        "https://safedrive.example.com/quote?click={click_id}&aff={affiliate_id}&s1={s1}",
    )
    .unwrap();
    let signer = ClickSigner::new(b"demo-click-secret-change-me-0123456789");
    let claims = Claims {
        kind: SourceKind::SmartLink,
        time: 1_795_000_000,
        offer_id: Some(1042),
        source_id: 301,
        affiliate_id: 67890,
    };
    let id = signer.issue(&claims);
    let mut group = c.benchmark_group("url_building");
    group.bench_function("template_without_macros", |b| {
        b.iter(|| {
            black_box(plain.render(&mut Values {
                click_id: "",
                s1: "",
            }))
        })
    });
    group.bench_function("offer_template_click_id_aff_s1", |b| {
        b.iter(|| {
            black_box(offer.render(&mut Values {
                click_id: id.as_str(),
                s1: black_box("email blast/june"),
            }))
        })
    });
    group.bench_function("click_id_issue_hmac_sha256", |b| {
        b.iter(|| black_box(signer.issue(black_box(&claims))))
    });
    let transaction_id = Some("3f2c9a4e-8b1d-4c6f-9e2a-7d5b0c1e4f3a");
    group.bench_function("click_id_issue_carrying_36_bytes", |b| {
        b.iter(|| black_box(signer.issue_carrying(black_box(&claims), black_box(transaction_id))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
