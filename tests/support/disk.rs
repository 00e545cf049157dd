//! A small ext4 file system on a loop device, for tests that fill a disk for real (they need
//! root, as CI has). Unmounted, and its image deleted, on drop.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    mount_point: PathBuf,
    image: PathBuf,
    /// Keeps a mount point this disk made itself until after the unmount.
    _own_dir: Option<tempfile::TempDir>,
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed (a small disk is a loop device: it needs root): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl SmallDisk {
    /// A `mib` MiB disk mounted on a new directory under the target's temp dir.
    pub fn mount(mib: u64) -> SmallDisk {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("small-disks");
        std::fs::create_dir_all(&base).expect("base dir");
        let dir = tempfile::tempdir_in(&base).expect("mount point");
        let mut disk = Self::mount_at(dir.path(), mib);
        disk._own_dir = Some(dir);
        disk
    }

    /// A `mib` MiB disk mounted on the existing, empty directory `mount_point`.
    pub fn mount_at(mount_point: &Path, mib: u64) -> SmallDisk {
        let image = mount_point.with_extension("img");
        let image_text = image.to_str().expect("utf-8 path");
        run("truncate", &["-s", &format!("{mib}M"), image_text]);
        // No blocks reserved for root: the broker runs as root, and full must mean full.
        run("mkfs.ext4", &["-q", "-F", "-m", "0", image_text]);
        run(
            "mount",
            &[
                "-o",
                "loop",
                image_text,
                mount_point.to_str().expect("utf-8 path"),
            ],
        );
        // A fresh ext4 has lost+found, which a broker would take for a partition directory.
        let _ = std::fs::remove_dir(mount_point.join("lost+found"));
        SmallDisk {
            mount_point: mount_point.to_path_buf(),
            image,
            _own_dir: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    pub fn available_bytes(&self) -> u64 {
        let path = CString::new(self.path().to_str().expect("utf-8")).expect("no NUL");
        // SAFETY: statvfs fills the struct we pass for a valid C string path.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
        assert_eq!(rc, 0, "statvfs");
        stat.f_bavail * stat.f_frsize
    }

    /// Takes all but about `leave` bytes of the free space with filler files (fallocate).
    /// One file as large as the free space can fail (the file's own extent tree needs
    /// blocks), so it fills in shrinking steps until at most 64 KiB more than `leave` is left.
    pub fn fill(&self, leave: u64) {
        let mut step = self.available_bytes().saturating_sub(leave);
        for n in 0..64 {
            let left = self.available_bytes();
            if left <= leave + (64 << 10) || step < 4096 {
                return;
            }
            step = step.min(left - leave);
            let filled = Command::new("fallocate")
                .args(["-l", &step.to_string()])
                .arg(self.mount_point.join(format!("filler-{n}")))
                .stderr(std::process::Stdio::null())
                .status()
                .expect("fallocate")
                .success();
            if !filled {
                let _ = std::fs::remove_file(self.mount_point.join(format!("filler-{n}")));
                step /= 2;
            }
        }
    }

    /// Gives the fillers' space back.
    pub fn unfill(&self) {
        for entry in std::fs::read_dir(&self.mount_point)
            .expect("read the disk")
            .flatten()
        {
            if entry.file_name().to_string_lossy().starts_with("filler-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
        let _ = std::fs::remove_file(&self.image);
    }
}
