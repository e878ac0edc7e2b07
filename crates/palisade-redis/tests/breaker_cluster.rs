//! The fleet-wide breaker on a 3-primary Redis Cluster: the same scenarios as on one server.
//! Every script touches one breaker's keys, all in one slot (`{prefix:name}`); published
//! changes cross the cluster bus to the node the instances subscribe on.

mod breaker_support;
mod common;

use breaker_support::Redis;
use common::RedisCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_breaker_trips_admits_trials_and_keeps_joiners_open_on_a_cluster() {
    let cluster = RedisCluster::start();
    let redis = Redis::Cluster(cluster.urls());
    let took = breaker_support::a_trip_on_one_instance_rejects_on_the_others(&redis).await;
    println!("propagation A -> B on the cluster: {took:?}");
    breaker_support::half_open_admits_exactly_the_configured_trials(&redis).await;
    breaker_support::a_new_instance_joining_an_open_breaker_stays_open(&redis).await;
}
