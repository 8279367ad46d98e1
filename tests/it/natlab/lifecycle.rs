//! The lab leaves nothing behind: its namespaces go when it drops (also while a test panics),
//! and those of a test process that was killed go with the next lab's sweep.

use std::time::Instant;

use super::namespace::{lab_namespaces, sweep_stale};
use super::{Lab, Nat};

#[test]
fn labs_of_one_to_three_homes_build_and_vanish() {
    for homes in 1..=3 {
        let mut builder = Lab::builder();
        for number in 0..homes {
            builder = builder.home(if number % 2 == 0 {
                Nat::EndpointIndependent
            } else {
                Nat::PortRandomising
            });
        }
        let lab = builder.build();
        let setup = lab.setup_time();
        let names = lab.namespace_names();
        assert_eq!(names.len(), 1 + 2 * homes);
        let present = lab_namespaces();
        for name in &names {
            assert!(present.contains(name), "{name} missing from {present:?}");
        }
        let start = Instant::now();
        drop(lab);
        let teardown = start.elapsed();
        println!(
            "{homes} home(s), {} namespaces: setup {setup:?}, teardown {teardown:?}",
            names.len()
        );
        let left = lab_namespaces();
        for name in &names {
            assert!(!left.contains(name), "{name} left behind");
        }
    }
}

#[test]
fn a_panicking_test_leaves_no_namespaces() {
    let outcome = std::panic::catch_unwind(|| {
        let lab = Lab::builder().home(Nat::PortRandomising).build();
        let names = lab.namespace_names();
        std::panic::panic_any(names);
    });
    let payload = outcome.expect_err("the closure panics");
    let names = payload
        .downcast_ref::<Vec<String>>()
        .expect("the lab's names");
    assert_eq!(names.len(), 3);
    let left = lab_namespaces();
    for name in names {
        assert!(!left.contains(name), "{name} left behind");
    }
}

#[test]
fn namespaces_of_dead_test_processes_are_swept() {
    // No process ever has a pid at or above pid_max.
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max").expect("pid_max");
    let name = format!("osplab-{}-0-wan", pid_max.trim());
    // Left behind as a killed test leaves it. Only `ip netns add`: a lab built in a parallel
    // test sweeps too and may remove it at any moment, so nothing may be done inside it.
    let added = std::process::Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .expect("run ip");
    assert!(added.success(), "ip netns add {name}: {added}");
    sweep_stale();
    assert!(
        !lab_namespaces().contains(&name),
        "{name} (a dead pid) was not swept"
    );
}
