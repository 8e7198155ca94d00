use hcal_schemas::SecretKey;
use std::time::Instant;
fn main() {
    let k = SecretKey::generate();
    let pt = vec![5u8; 420];
    let ct = k.encrypt(b"aad", &pt).unwrap();
    let n = 100000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(k.decrypt(b"aad", &ct).unwrap());
    }
    println!("decrypt 420B: {:.2}us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(k.encrypt(b"aad", &pt).unwrap());
    }
    println!("encrypt 420B: {:.2}us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
