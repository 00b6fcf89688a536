//! The file system's own rates, for `scripts/bench.sh` to compare smsync against:
//!
//! `fs_baseline files DIR COUNT BYTES` creates COUNT files of BYTES bytes in DIR the way
//! smsync writes vdir files (a temp file in the same folder, then a rename; one `syncfs` at
//! the end, as an export makes its files durable) and prints
//! `files_per_s=…`. `fs_baseline seq FILE BYTES` writes BYTES sequentially in 64 KiB
//! pieces, fsyncs, and prints `mb_per_s=…`.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: fs_baseline files DIR COUNT BYTES | fs_baseline seq FILE BYTES";
    match args.get(1).map(String::as_str) {
        Some("files") if args.len() == 5 => {
            let dir = Path::new(&args[2]);
            let count: usize = args[3].parse().expect(usage);
            let size: usize = args[4].parse().expect(usage);
            fs::create_dir_all(dir).expect("create DIR");
            let body = vec![b'x'; size];
            let t = Instant::now();
            for i in 0..count {
                let tmp = dir.join(format!(".f{i}.tmp"));
                fs::write(&tmp, &body).expect("write");
                fs::rename(&tmp, dir.join(format!("f{i}.vcf"))).expect("rename");
            }
            // Durable at the end, as an export is (one syncfs for the file system).
            let d = fs::File::open(dir).expect("open DIR");
            // SAFETY: a valid open descriptor.
            assert_eq!(
                unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&d)) },
                0
            );
            let secs = t.elapsed().as_secs_f64();
            println!(
                "files={count} seconds={secs:.3} files_per_s={:.0}",
                count as f64 / secs
            );
        }
        Some("seq") if args.len() == 4 => {
            let bytes: usize = args[3].parse().expect(usage);
            let chunk = vec![b'x'; 64 * 1024];
            let t = Instant::now();
            let mut f = fs::File::create(&args[2]).expect("create FILE");
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                f.write_all(&chunk[..n]).expect("write");
                left -= n;
            }
            f.sync_all().expect("fsync");
            let secs = t.elapsed().as_secs_f64();
            println!(
                "bytes={bytes} seconds={secs:.3} mb_per_s={:.1}",
                bytes as f64 / 1e6 / secs
            );
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
