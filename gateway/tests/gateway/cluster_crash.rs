//! Issue 18's first cluster test: the crash suite over three replicas,
//! one killed each round (see `crash::cluster`). Run from `gateway_pg`
//! only.

#[test]
fn acknowledged_writes_survive_sigkill_of_any_replica_and_a_dead_ones_tenants_are_taken_over() {
    crate::crash::cluster::run();
}
