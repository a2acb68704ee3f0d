//! The per-request cost of SPEC §13's path rule (not a test): how long
//! `routes::encoded_fixed_segment` takes on the paths clients send, in ns
//! per call. The front door runs it once per request.
//!
//! Run: `cargo bench --bench path_rule` (release profile).

use std::hint::black_box;
use std::time::Instant;

use login_gateway::routes::encoded_fixed_segment;

const CALLS: u32 = 10_000_000;

fn main() {
    let cases = [
        ("plain route (no '%')", "/login/verify"),
        ("/api with an encoded {rest}", "/api/orders/items/a%2Fb"),
        ("encoded fixed segment", "/%73ession/token"),
        ("encoded {id}", "/mfa/authenticators/sms%7Cdev_1"),
    ];
    println!("{:<32} {:>10}", "path", "ns/call");
    for (label, path) in cases {
        let started = Instant::now();
        let mut refused = 0u32;
        for _ in 0..CALLS {
            refused += u32::from(encoded_fixed_segment(black_box(path)));
        }
        let ns = started.elapsed().as_nanos() as f64 / f64::from(CALLS);
        black_box(refused);
        println!("{label:<32} {ns:>10.2}");
    }
}
