//! `weir serve`: loads the metadata, starts one pinned executor per shard, joins them into the
//! mesh, opens each shard's partitions, and then serves clients until SIGINT/SIGTERM, when every
//! shard syncs and closes its logs.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use glommio::channels::channel_mesh::{Full, MeshBuilder};
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};

use super::controller::Controller;
use super::mesh::{self, Mesh, MeshMessage};
use super::{ops, Shard};
use crate::clock::SystemClock;
use crate::config::BrokerConfig;
use crate::config::TopicConfigs;
use crate::group::store::OFFSETS_TOPIC;
use crate::log::{blocking, LogDir};
use crate::metadata::{
    self, ClusterMeta, MetadataError, MetadataSource, PartitionMeta, QuorumSnapshot, TopicMeta,
    NO_LEADER,
};
use crate::protocol::fetch_session::FetchSessions;
use crate::quorum::MetadataLog;

/// Set by the signal thread; every shard polls it.
static SHUTDOWN: AtomicBool = AtomicBool::new(false);
/// True once SIGTERM/SIGINT has asked the broker to stop.
pub fn shutting_down() -> bool {
    SHUTDOWN.load(Ordering::Relaxed)
}

/// Shards whose connections are drained after SHUTDOWN.
static DRAINED_SHARDS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{address} is in use by another process (another broker?); not starting")]
    PortInUse { address: std::net::SocketAddr },
    #[error("cannot create the log directory {path}: {source}")]
    LogDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("--smp {requested}: this process may use {available} CPUs")]
    TooManyShards { requested: usize, available: usize },
    #[error("cannot start the shard executors: {0}")]
    Executors(String),
    #[error("shard {shard} failed: {reason}")]
    Shard { shard: usize, reason: String },
    #[error("the records of weir storage format do not apply: {0}")]
    Bootstrap(String),
}

/// CPUs this process may run on (its affinity mask), the default shard count.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn serve(config: BrokerConfig, smp: Option<usize>) -> Result<(), ServeError> {
    let available = available_cpus();
    let shard_count = smp.unwrap_or(available);
    if shard_count == 0 || shard_count > available {
        return Err(ServeError::TooManyShards {
            requested: shard_count,
            available,
        });
    }
    std::fs::create_dir_all(&config.log_dir).map_err(|source| ServeError::LogDir {
        path: config.log_dir.display().to_string(),
        source,
    })?;
    for listener in &config.listeners {
        wait_for_free_port(listener.address)?;
    }
    crate::net::set_outbound_source(
        config
            .inter_broker()
            .map(|l| l.address)
            .or(config.cluster.controller_listener)
            .map(|address| address.ip()),
    );
    let single_node = config.cluster.is_single_node();
    let (snapshot, source) = prepare_metadata(
        &config.log_dir,
        config.broker_id,
        config.offsets_topic_partitions,
        single_node.then_some(config.bootstrap_records.0.as_slice()),
    )?;
    // After a metadata fallback, directories the metadata does not list were adopted instead.
    if source == MetadataSource::Current {
        remove_orphan_partitions(&config.log_dir, &snapshot.meta);
    }
    // A registry rebuilt from directories gave topics new ids: the metadata log's entries
    // would not fit it.
    let replay_log = !matches!(source, MetadataSource::Rebuilt { .. });
    start_signal_thread();

    let io_memory = io_memory_per_shard(shard_count);
    tracing::info!(
        shards = shard_count,
        io_memory_bytes = io_memory,
        log_dir = %config.log_dir.display(),
        listeners = %if config.listeners.is_empty() {
            "none (controller only)".to_string()
        } else {
            config
                .listeners
                .iter()
                .map(|l| format!("{}://{}", l.name, l.address))
                .collect::<Vec<_>>()
                .join(",")
        },
        "starting weir"
    );
    let mesh_builder = MeshBuilder::<MeshMessage, Full>::full(shard_count, 1024);
    let barrier = Arc::new(Barrier::new(shard_count));
    let connection_count = crate::net::ConnectionCount::new(config.connections.max_connections);
    let handles = LocalExecutorPoolBuilder::new(PoolPlacement::MaxSpread(shard_count, None))
        .io_memory(io_memory)
        .name("weir-shard")
        // glommio clones this closure once per shard on this thread, before any shard runs.
        // Its captures must be moved, never cloned, on the shard threads: MeshBuilder holds an
        // `Rc` (glommio 0.9 marks it Send), so a clone there races with the other threads'
        // refcount updates and frees the mesh registry early (observed as heap corruption).
        .on_all_shards(move || async move {
            let result = run_shard(
                config,
                snapshot,
                replay_log,
                shard_count,
                mesh_builder,
                barrier,
                connection_count,
            )
            .await;
            if let Err(e) = &result {
                // The other shards may wait for this one: say why now, then stop the process.
                tracing::error!(error = %e, "shard failed; stopping");
                SHUTDOWN.store(true, Ordering::Relaxed);
            }
            result
        })
        .map_err(|e| ServeError::Executors(e.to_string()))?;
    let mut failure = None;
    for result in handles.join_all() {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(e) => {
                failure = Some(ServeError::Executors(e.to_string()));
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => {
            tracing::info!("weir stopped");
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_shard(
    config: BrokerConfig,
    snapshot: QuorumSnapshot,
    replay_log: bool,
    shard_count: usize,
    mesh_builder: MeshBuilder<MeshMessage, Full>,
    barrier: Arc<Barrier>,
    connection_count: Arc<crate::net::ConnectionCount>,
) -> Result<(), ServeError> {
    let (senders, receivers) = mesh_builder.join().await.map_err(|e| ServeError::Shard {
        shard: usize::MAX,
        reason: format!("cannot join the shard mesh: {e}"),
    })?;
    let id = senders.peer_id();
    let fail = |reason: String| ServeError::Shard { shard: id, reason };
    // Opening the directory writes and reads a probe file first, so glommio's io_uring probe
    // sees a non-empty file on this device (see tuning.md).
    let log_dir = LogDir::open_with(&config.log_dir, config.read_ahead)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mesh = Rc::new(Mesh::new(senders));
    let meta = snapshot.meta.clone();
    let controller = match id {
        0 if config.cluster.controller_role => Some(Controller::new(MetadataLog::Voter(Rc::new(
            open_quorum(&config, snapshot, replay_log)
                .await
                .map_err(fail)?,
        )))),
        0 => Some(Controller::new(MetadataLog::Observer(Rc::new(
            crate::quorum::observer::Observer::open(
                config.log_dir.clone(),
                (
                    config.cluster.controller_addresses(),
                    controller_dialer(&config),
                ),
                snapshot,
            ),
        )))),
        _ => None,
    };
    let config_group = config.group.clone();
    let queued_max_request_bytes = config.connections.queued_max_request_bytes;
    // Replication's work on this shard, both sides of it, runs in its own task queue with the
    // same shares as the client requests of the default queue: a follower's fetching, appending
    // and writing, and a leader's reads for its followers (disk reads of old data included).
    // Under contention neither replication nor clients take more than half of the core from
    // the other (tuning.md, Replication).
    let replication_queue = glommio::executor().create_task_queue(
        glommio::Shares::Static(REPLICATION_SHARES),
        glommio::Latency::Matters(Duration::from_millis(10)),
        "replication",
    );
    let quota_window = config.quota_window;
    let shard = Rc::new(Shard {
        id,
        count: shard_count,
        config: Rc::new(config),
        log_dir,
        clock: Rc::new(SystemClock),
        meta: RefCell::new(Rc::new(ClusterMeta::default())),
        logs: RefCell::new(Default::default()),
        offline: RefCell::new(Default::default()),
        mesh: mesh.clone(),
        controller,
        fetch_sessions: RefCell::new(FetchSessions::new(id)),
        quotas: RefCell::new(crate::security::quota::QuotaTracker::new(quota_window)),
        coordinators: Default::default(),
        group_config: config_group,
        loading_offsets: Default::default(),
        txn_coordinators: Default::default(),
        loading_txns: Default::default(),
        replication_queue,
        metrics: Default::default(),
        connection_count,
        address_connections: Default::default(),
        connections: Default::default(),
        request_memory: crate::net::RequestMemory::new(queued_max_request_bytes),
    });
    let handler_shard = shard.clone();
    mesh::spawn_receivers(mesh.clone(), receivers, move |op| {
        ops::execute(handler_shard.clone(), op)
    });
    shard.apply_metadata(meta).await;
    if id == 0 {
        start_controller(&shard).await?;
    }
    // Every shard opens its partitions before any listens: a client routed to any shard finds
    // every partition open. (A blocking wait is harmless here: nothing is served yet.)
    barrier.wait();
    let mut acceptors = Vec::new();
    if !shard.config.listeners.is_empty() {
        if !wait_broker_ready(id).await {
            return Ok(());
        }
        for client in &shard.config.listeners {
            let address = client.address;
            let listener = crate::net::bind(address)
                .map_err(|e| fail(format!("cannot listen on {}://{address}: {e}", client.name)))?;
            if id == 0 {
                tracing::info!(
                    name = %client.name,
                    protocol = client.protocol.name(),
                    %address,
                    advertised = %client.advertised.as_ref().map_or("(not advertised)".to_string(), |a| format!("{}:{}", a.host, a.port)),
                    "listening"
                );
            }
            acceptors.push(glommio::spawn_local(crate::net::accept_loop(
                shard.clone(),
                listener,
                Rc::new(client.clone()),
            )));
        }
    }
    // The admin port lives on shard 0, which gathers the other shards' metrics over the mesh.
    let admin = match shard.config.admin_listener.filter(|_| id == 0) {
        Some(address) => {
            let listener = crate::net::bind_exclusive(address)
                .await
                .map_err(|e| fail(format!("cannot listen on admin.listener {address}: {e}")))?;
            tracing::info!(%address, "serving /metrics");
            Some(glommio::spawn_local(crate::metrics::admin::serve(
                shard.clone(),
                listener,
            )))
        }
        None => None,
    };
    if id == 0 && !acceptors.is_empty() {
        // One line per start once shard 0 holds every listener (a port accepts as soon as one
        // shard has bound it): what a supervisor or a test waits for, where the per-listener
        // lines above come one per listener.
        tracing::info!(listeners = acceptors.len(), "all listeners bound");
    }
    glommio::spawn_local(retention_loop(shard.clone())).detach();
    if !shard.config.cluster.is_single_node() {
        // Only a follower reads the checkpoint back (one broker never follows): a single node
        // leaves it to the open and close of each log.
        glommio::spawn_local(high_watermark_checkpoint_loop(shard.clone())).detach();
        let queue = shard.replication_queue;
        glommio::spawn_local_into(crate::replication::run_fetchers(shard.clone()), queue)
            .map_err(|e| fail(format!("cannot start the replica fetchers: {e}")))?
            .detach();
        glommio::spawn_local(crate::replication::run_isr_manager(shard.clone())).detach();
    }
    if shard.config.cleaner.enable {
        // Compaction competes with produce and fetch for this core and its disk: it runs in a
        // task queue with a tenth of the default queue's shares.
        let queue = glommio::executor().create_task_queue(
            glommio::Shares::Static(CLEANER_SHARES),
            glommio::Latency::NotImportant,
            "log-cleaner",
        );
        glommio::spawn_local_into(cleaner_loop(shard.clone()), queue)
            .map_err(|e| fail(format!("cannot start the log cleaner: {e}")))?
            .detach();
    }
    glommio::spawn_local(group_tick_loop(shard.clone())).detach();
    glommio::spawn_local(super::txn_ops::txn_timer_loop(shard.clone())).detach();

    while !SHUTDOWN.load(Ordering::Relaxed) {
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
    // Controlled shutdown (cluster only: a single node has nowhere to move leaderships): keep
    // serving while the controller moves this broker's leaderships away.
    if shard.config.cluster.controlled_shutdown
        && shard.config.cluster.broker_role
        && !shard.config.cluster.is_single_node()
    {
        let started = std::time::Instant::now();
        if id == 0 {
            tracing::info!("controlled shutdown: moving leaderships to other brokers");
        }
        while !super::controller::controlled_shutdown_done() {
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
        if id == 0 {
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "controlled shutdown: this broker leads nothing now"
            );
        }
    }
    // Graceful shutdown: accept nothing more, let every request already read be answered
    // (its appends flushed as acks require), then close the logs, leaving the clean-shutdown
    // markers that spare the next start its recovery scan.
    drop(acceptors);
    drop(admin);
    let deadline = std::time::Instant::now()
        + Duration::from_millis(shard.config.connections.shutdown_timeout_ms);
    drain_connections(&shard, deadline).await;
    // Requests of other shards' connections may still need this shard's partitions: the
    // logs close only when every shard has drained.
    DRAINED_SHARDS.fetch_add(1, Ordering::AcqRel);
    while DRAINED_SHARDS.load(Ordering::Acquire) < shard_count {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    let logs = shard.all_logs();
    let started = std::time::Instant::now();
    for log in &logs {
        if let Err(e) = log.close().await {
            tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "closing log");
        }
    }
    tracing::info!(
        shard = id,
        partitions = logs.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "logs flushed and closed"
    );
    mesh.close();
    Ok(())
}

/// Stops reading requests on every connection of this shard and waits, until `deadline`, for
/// the answers to those already read (a fetch long poll ends within its `max_wait_ms`); what
/// is still open then is closed.
async fn drain_connections(shard: &Shard, deadline: std::time::Instant) {
    let open = shard.connections.len();
    if open > 0 {
        tracing::info!(
            shard = shard.id,
            connections = open,
            "shutting down: answering the requests in flight"
        );
    }
    shard.connections.stop_reading();
    for log in shard.all_logs() {
        log.end_long_polls();
    }
    while !shard.connections.is_empty() && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    if !shard.connections.is_empty() {
        tracing::warn!(
            shard = shard.id,
            connections = shard.connections.len(),
            "shutdown.timeout.ms passed with requests in flight; closing their connections"
        );
        shard.connections.close_all();
    }
}

/// The quorum's settings from the broker's: a single node without `controller.quorum.voters`
/// is a quorum of one.
fn quorum_config(config: &BrokerConfig) -> crate::quorum::QuorumConfig {
    let cluster = &config.cluster;
    let voters = if cluster.voters.is_empty() {
        let unused: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        [(config.broker_id as u64, unused)].into_iter().collect()
    } else {
        cluster
            .voters
            .iter()
            .map(|(id, a)| (*id as u64, *a))
            .collect()
    };
    const TICK_MS: u64 = 100;
    crate::quorum::QuorumConfig {
        node_id: config.broker_id as u64,
        voters,
        tick: Duration::from_millis(TICK_MS),
        election_ticks: (cluster.election_timeout_ms / TICK_MS).max(2) as usize,
        heartbeat_ticks: 1,
        log_dir: config.log_dir.clone(),
        dialer: controller_dialer(config),
    }
}

/// How this node reaches the voters' controller listener: over TLS and logged in as the
/// listener's protocol says (`ControllerSecurity`).
fn controller_dialer(config: &BrokerConfig) -> crate::quorum::wire::Dialer {
    use crate::quorum::wire::{DialError, Dialer};
    use crate::replication::{FetchError, LeaderConnection, Secured};
    let security = Rc::new(config.controller_security.clone());
    let client_id = format!("weir-controller-link-{}", config.broker_id);
    Dialer::new(move |address| {
        let security = security.clone();
        let client_id = client_id.clone();
        Box::pin(async move {
            let host = security.host_of(address);
            let secured = Secured {
                host: &host,
                tls: security.client_tls.as_ref(),
                login: security.login.as_ref(),
            };
            match LeaderConnection::open(address, client_id, secured).await {
                Ok(connection) => Ok(connection.into_stream()),
                Err(FetchError::Login(why)) => Err(DialError::Refused(why)),
                Err(e) => Err(DialError::Unreachable(e.to_string())),
            }
        })
    })
}

/// Shard 0's metadata quorum: the snapshot the node started from and the log after it (read
/// on the blocking pool; its entries are dropped when `replay_log` is false).
async fn open_quorum(
    config: &BrokerConfig,
    snapshot: QuorumSnapshot,
    replay_log: bool,
) -> Result<crate::quorum::Quorum, String> {
    let path = crate::quorum::quorum_log_path(&config.log_dir);
    let read_path = path.clone();
    let mut loaded = blocking(move || crate::quorum::load_log(&read_path))
        .await
        .map_err(|e| e.to_string())?;
    if loaded.torn_bytes > 0 {
        tracing::warn!(bytes = loaded.torn_bytes, path = %path.display(), "cut a torn write off the metadata log's end");
    }
    if !replay_log {
        // The hard state (term and vote) is kept.
        loaded.entries.clear();
    }
    crate::quorum::Quorum::open(quorum_config(config), snapshot, loaded)
        .map_err(|e| format!("cannot open the metadata quorum: {e}"))
}

/// Shard 0's controller side: the metadata quorum's driver (a voter's Raft node, or a
/// broker-only node's observer), the controller listener, the controller's duties and this
/// broker's registration and heartbeats.
async fn start_controller(shard: &Rc<Shard>) -> Result<(), ServeError> {
    let Some(controller) = shard.controller.as_ref() else {
        return Ok(());
    };
    let publisher = shard.clone();
    let publish: crate::quorum::Publish = Rc::new(move |meta| {
        let shard = publisher.clone();
        Box::pin(async move { shard.publish_metadata(meta).await })
    });
    match &controller.quorum {
        MetadataLog::Voter(quorum) => {
            glommio::spawn_local(quorum.clone().run(publish)).detach();
            if let Some(address) = shard.config.cluster.controller_listener {
                serve_controller_listener(shard, quorum, address).await?;
            }
        }
        MetadataLog::Observer(observer) => {
            tracing::info!(
                controllers = ?shard.config.cluster.controller_addresses(),
                "broker-only node: following the metadata quorum"
            );
            glommio::spawn_local(observer.clone().run(publish)).detach();
        }
    }
    glommio::spawn_local(shard.clone().controller_duties()).detach();
    if shard.config.cluster.broker_role {
        glommio::spawn_local(shard.clone().broker_lifecycle()).detach();
    } else {
        tracing::info!("controller-only node: no client listener, no partitions");
    }
    Ok(())
}

/// The CONTROLLER listener: Raft messages, calls to the active controller, and observers'
/// metadata fetches.
async fn serve_controller_listener(
    shard: &Rc<Shard>,
    quorum: &Rc<crate::quorum::Quorum>,
    address: std::net::SocketAddr,
) -> Result<(), ServeError> {
    let listener = crate::net::bind_exclusive(address)
        .await
        .map_err(|e| ServeError::Shard {
            shard: 0,
            reason: format!("cannot listen on the CONTROLLER listener {address}: {e}"),
        })?;
    tracing::info!(%address, protocol = shard.config.controller_security.protocol.name(), "controller listener");
    let caller = shard.clone();
    let admitter = shard.clone();
    let authorizer = shard.clone();
    let receiver = quorum.clone();
    let fetched = quorum.clone();
    let handlers = Rc::new(crate::quorum::wire::Handlers {
        admit: Box::new(move |stream, peer| {
            let shard = admitter.clone();
            Box::pin(
                async move { crate::net::controller_listener::admit(&shard, stream, peer).await },
            )
        }),
        authorized: Box::new(move |principal, peer| {
            crate::protocol::may_act_on_controller(&authorizer, principal, peer)
        }),
        raft: Box::new(move |message| receiver.receive(message)),
        call: Box::new(move |request, peer| {
            let shard = caller.clone();
            Box::pin(async move { crate::protocol::handle_call(&shard, peer, request).await })
        }),
        fetch: Box::new(move |after, wait| {
            let quorum = fetched.clone();
            Box::pin(async move { quorum.answer_fetch(after, wait).await })
        }),
    });
    glommio::spawn_local(crate::quorum::wire::serve(listener, handlers)).detach();
    Ok(())
}

/// Waits until this broker is registered and unfenced: clients are served only then (Kafka's
/// broker waits for the controller the same way). `false` when the process stops meanwhile.
async fn wait_broker_ready(shard: usize) -> bool {
    let mut waited = std::time::Instant::now();
    while !super::controller::broker_ready() {
        if SHUTDOWN.load(Ordering::Relaxed) {
            return false;
        }
        if shard == 0 && waited.elapsed() > Duration::from_secs(5) {
            tracing::info!("waiting for the active controller to register and unfence this broker");
            waited = std::time::Instant::now();
        }
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Session timeouts and join deadlines of this shard's consumer groups.
async fn group_tick_loop(shard: Rc<Shard>) {
    loop {
        glommio::timer::sleep(Duration::from_millis(100)).await;
        for coordinator in shard.coordinators() {
            coordinator.groups.tick();
            // Groups that went Empty (members expired) are persisted as such.
            super::group_ops::persist_groups(&coordinator, None).await;
        }
    }
}

/// glommio's default task queue has 1000 shares.
const CLEANER_SHARES: usize = 100;
/// Replication's queue (`Shard::replication_queue`): as much as the client requests' default
/// queue.
const REPLICATION_SHARES: usize = 1000;

/// Kafka's log cleaner, per shard over the compacted logs it owns, every
/// `log.cleaner.backoff.ms`.
async fn cleaner_loop(shard: Rc<Shard>) {
    let interval = Duration::from_millis(shard.config.cleaner.backoff_ms);
    let options = crate::log::CleanOptions::new(shard.config.cleaner.dedupe_buffer_bytes);
    loop {
        glommio::timer::sleep(interval).await;
        for log in shard.all_logs() {
            match crate::log::clean(&log, options).await {
                Ok(Some(outcome)) => tracing::info!(
                    topic = log.topic(),
                    partition = log.partition(),
                    segments_cleaned = outcome.segments_cleaned,
                    segments_written = outcome.segments_written,
                    bytes_before = outcome.bytes_before,
                    bytes_after = outcome.bytes_after,
                    records_removed = outcome.records_removed,
                    cleaned_up_to = outcome.cleaned_up_to,
                    "log compacted"
                ),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "log cleaner")
                }
            }
        }
    }
}

/// Kafka's `log.retention.check.interval.ms` loop, per shard over the logs it owns.
/// Kafka's `replica.high.watermark.checkpoint.interval.ms` (5 s): each log's high watermark
/// is checkpointed when it moved, so a restarted follower knows where its log was committed.
async fn high_watermark_checkpoint_loop(shard: Rc<Shard>) {
    const INTERVAL: Duration = Duration::from_secs(5);
    loop {
        glommio::timer::sleep(INTERVAL).await;
        for log in shard.all_logs() {
            if let Err(e) = log.checkpoint_high_watermark().await {
                tracing::warn!(topic = log.topic(), partition = log.partition(), error = %e, "high watermark not checkpointed");
            }
        }
    }
}

async fn retention_loop(shard: Rc<Shard>) {
    let interval = Duration::from_millis(shard.config.retention_check_interval_ms);
    loop {
        glommio::timer::sleep(interval).await;
        for log in shard.all_logs() {
            match log.apply_retention().await {
                Ok(outcome) if outcome.deleted_segments > 0 => tracing::info!(
                    topic = log.topic(),
                    partition = log.partition(),
                    deleted_segments = outcome.deleted_segments,
                    log_start_offset = outcome.log_start_offset,
                    "retention deleted segments"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(topic = log.topic(), partition = log.partition(), error = %e, "retention")
                }
            }
        }
    }
}

/// The shards bind with SO_REUSEPORT, which would let a second broker on the same port (or the
/// listener of a crashed one that the kernel has not released yet: its io_uring holds the
/// socket for a moment after the process is gone) silently take a share of the connections.
/// So first check that nobody answers on the address; a listener that is still being released
/// gets up to 10 s. (A bind without SO_REUSEPORT cannot tell: connections of the previous run
/// in FIN_WAIT keep the port "in use" for a minute after a clean stop.)
fn wait_for_free_port(address: std::net::SocketAddr) -> Result<(), ServeError> {
    let mut target = address;
    if target.ip().is_unspecified() {
        target.set_ip(if target.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut waited = false;
    loop {
        match std::net::TcpStream::connect_timeout(&target, Duration::from_millis(500)) {
            Ok(_) => {
                if !waited {
                    tracing::info!(%address, "something listens on the address; waiting for it to go");
                    waited = true;
                }
                if std::time::Instant::now() > deadline {
                    return Err(ServeError::PortInUse { address });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Refused: nobody listens. Other errors (unreachable address, permissions) surface
            // from the shards' bind.
            Err(_) => return Ok(()),
        }
    }
}

/// Data dirs of single-node Weir from before the cluster shape have partitions without a
/// leader or replicas, and a single node restarted with another `broker.id` finds partitions
/// led by its old id: on one broker, every partition is this broker's. Returns whether
/// anything changed (the metadata is then stored again). The leader epoch is kept, so that
/// clients' epochs stay valid.
fn single_node_migration(meta: &mut ClusterMeta, broker_id: i32) -> bool {
    let mut moved = Vec::new();
    // Registrations of another id are of this same node under its old id.
    let registered = meta.brokers.len();
    meta.brokers.retain(|id, _| *id == broker_id);
    let mut changed = meta.brokers.len() != registered;
    for topic in meta.topics.values_mut() {
        for partition in &mut topic.partitions {
            if partition.leader == broker_id
                && partition.replicas == [broker_id]
                && partition.isr == [broker_id]
            {
                continue;
            }
            if partition.leader != NO_LEADER && partition.leader != broker_id {
                moved.push(partition.leader);
            }
            partition.leader = broker_id;
            partition.replicas = vec![broker_id];
            partition.isr = vec![broker_id];
            partition.partition_epoch += 1;
            changed = true;
        }
    }
    moved.sort_unstable();
    moved.dedup();
    if !moved.is_empty() {
        tracing::warn!(old_broker_ids = ?moved, broker_id, "partitions of another broker.id in this data dir: this single node now leads them");
    }
    changed
}

/// Loads the metadata (or starts an empty cluster), gives it a cluster id, and makes this
/// broker the replica and leader of every partition (one broker is the whole cluster).
/// `single_node`: the format-time records when this node is the whole cluster (applied with
/// the new cluster's id); `None` for a node of a cluster, whose quorum decides.
fn prepare_metadata(
    log_dir: &Path,
    broker_id: i32,
    offsets_partitions: i32,
    single_node: Option<&[crate::metadata::records::MetadataRecord]>,
) -> Result<(QuorumSnapshot, MetadataSource), ServeError> {
    let (mut snapshot, source) = metadata::load_snapshot_or_recover(log_dir)?;
    let Some(bootstrap_records) = single_node else {
        // A cluster's metadata comes from its quorum: the first active controller records
        // the cluster id and creates the offsets topic; nothing is made up locally.
        if let MetadataSource::Previous { reason } | MetadataSource::Rebuilt { reason } = &source {
            tracing::warn!(%reason, "metadata file damaged; the quorum's leader sends what is missing");
        }
        return Ok((snapshot, source));
    };
    let meta = &mut snapshot.meta;
    let mut changed = false;
    if let MetadataSource::Previous { reason } | MetadataSource::Rebuilt { reason } = &source {
        if matches!(source, MetadataSource::Previous { .. }) {
            tracing::warn!(%reason, "metadata file damaged: using the copy kept before its last change");
        } else {
            tracing::warn!(%reason, "metadata files damaged: rebuilding the topic registry from the partition directories");
            // Producer ids handed out before must never repeat: start past any issued so far
            // (ids are issued from 0 upwards, far slower than one per millisecond).
            meta.next_producer_id = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1 << 40, |d| d.as_millis() as i64);
        }
        let adopted = metadata::adopt_partition_dirs(log_dir, meta, broker_id);
        if !adopted.is_empty() {
            tracing::warn!(
                topics = ?adopted,
                "partition directories missing from the metadata were adopted with new topic ids and the broker's default topic configs"
            );
        }
        changed = true;
    }
    if !meta.topics.contains_key(OFFSETS_TOPIC) {
        meta.topics.insert(
            OFFSETS_TOPIC.to_string(),
            TopicMeta {
                name: OFFSETS_TOPIC.to_string(),
                id: uuid::Uuid::new_v4(),
                partitions: (0..offsets_partitions)
                    .map(|_| PartitionMeta::single_replica(broker_id))
                    .collect(),
                configs: TopicConfigs::default(),
            },
        );
    }
    // Kafka's internal topic for committed offsets and group metadata: compacted (the latest
    // commit per group, topic and partition is all that matters), 100 MiB segments. Data dirs
    // of Weir versions before compaction kept it with retention.ms=-1 instead; they are
    // upgraded here.
    let offsets_topic = meta.topics.get_mut(OFFSETS_TOPIC).expect("inserted above");
    if offsets_topic
        .configs
        .overrides()
        .get("cleanup.policy")
        .map(String::as_str)
        != Some("compact")
    {
        offsets_topic.configs = TopicConfigs::new([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), "104857600".to_string()),
        ])
        .expect("valid internal topic configs");
        changed = true;
    }
    if meta.cluster_id.is_empty() {
        meta.cluster_id = new_cluster_id();
        // `weir storage format --add-scram`: a new cluster's first records, once.
        for record in bootstrap_records {
            crate::metadata::records::apply(meta, record)
                .map_err(|e| ServeError::Bootstrap(e.to_string()))?;
        }
        changed = true;
    }
    if single_node_migration(meta, broker_id) {
        changed = true;
    }
    if changed {
        metadata::store_snapshot(log_dir, &snapshot)?;
    }
    Ok((snapshot, source))
}

/// Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
pub(super) fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| ALPHABET[((bytes >> (i * 6)) & 63) as usize] as char)
        .collect()
}

/// Partition directories whose topic is gone (a delete interrupted by a crash, before the
/// directory was removed) are removed, so that a new topic of the same name starts empty.
fn remove_orphan_partitions(log_dir: &Path, meta: &ClusterMeta) {
    for (topic, partition) in metadata::partition_dirs(log_dir) {
        let known = meta
            .topics
            .get(&topic)
            .is_some_and(|t| t.partition(partition).is_some());
        if !known {
            let path = log_dir.join(format!("{topic}-{partition}"));
            tracing::warn!(path = %path.display(), "removing the directory of a deleted partition");
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::error!(path = %path.display(), error = %e, "cannot remove");
            }
        }
    }
}

/// glommio registers each executor's DMA buffer memory with io_uring, which counts against
/// RLIMIT_MEMLOCK (often 8 MiB): share what the limit allows (see tuning.md).
fn io_memory_per_shard(shard_count: usize) -> usize {
    const DEFAULT: usize = 10 << 20;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return DEFAULT;
    }
    let share = (limit.rlim_cur as usize) / (2 * shard_count);
    share.clamp(1 << 20, DEFAULT)
}

fn start_signal_thread() {
    // Block the signals in this thread before the executors start, so that they inherit the
    // mask and only the signal thread receives them.
    // SAFETY: plain libc signal-set manipulation on a local sigset_t.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::Builder::new()
        .name("weir-signals".into())
        .spawn(move || {
            let mut signal: libc::c_int = 0;
            // SAFETY: sigwait on the set blocked above.
            unsafe { libc::sigwait(&set, &mut signal) };
            tracing::info!(signal, "shutting down: no new connections, answering the requests in flight, then closing the logs");
            SHUTDOWN.store(true, Ordering::Relaxed);
        })
        .expect("spawn the signal thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_migration_makes_this_broker_every_partitions_replica() {
        let mut meta = ClusterMeta::default();
        let old_shape = PartitionMeta {
            leader: NO_LEADER,
            replicas: Vec::new(),
            isr: Vec::new(),
            leader_epoch: 4,
            partition_epoch: 0,
        };
        meta.topics.insert(
            "t".into(),
            TopicMeta {
                name: "t".into(),
                id: uuid::Uuid::new_v4(),
                partitions: vec![old_shape, PartitionMeta::single_replica(3)],
                configs: Default::default(),
            },
        );
        assert!(single_node_migration(&mut meta, 7));
        for p in &meta.topics["t"].partitions {
            assert_eq!((p.leader, &p.replicas, &p.isr), (7, &vec![7], &vec![7]));
            assert_eq!(p.partition_epoch, 1);
        }
        assert_eq!(meta.topics["t"].partitions[0].leader_epoch, 4);
        // Already this broker's: nothing to store.
        assert!(!single_node_migration(&mut meta, 7));
    }
}
