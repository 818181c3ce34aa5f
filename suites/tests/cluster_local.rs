//! The `local` provider end to end, on this machine (needs root and
//! `ci/setup.sh k8s`): bring the cluster up (or reuse the running one), run a
//! real pod with an HTTP readiness probe, reach it through a ClusterIP Service
//! by DNS name from another pod and through a LoadBalancer address from the
//! host, then tear the cluster down and check that nothing it made is left:
//! processes, mounts, interfaces, iptables chains, cgroups.
//!
//! Sharing the cluster: it holds the same lock file as
//! `kubegate::provider::ensure` for its whole run, so no other kubegate
//! process starts or reuses the cluster while it is being torn down, and it
//! forgets the recorded cluster afterwards, so the next `ensure_cluster`
//! (the live suites) starts a fresh one. nextest's `cluster` test group runs
//! it alone (.config/nextest.toml).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use kubegate::provider::local::{ClusterUsers, LocalPaths, LocalProvider};
use kubegate::provider::{ClusterInfo, LoadBalancerSupport, Provider, ProviderConfig, ProviderKind, ensure};
use serde_json::json;

const NAMESPACE: &str = "kubegate-cluster-local";
/// ci/k8s/versions.sh, where the testbox image's name and version are set.
const VERSIONS_SH: &str = include_str!("../../ci/k8s/versions.sh");
/// The same image under a tag only Docker has, so the web pod runs only if
/// `load_images` really moved it from Docker into the cluster's containerd.
const LOADED: &str = "kubegate.local/testbox:loaded-by-test";
const BUILD_HINT: &str = "build the local cluster: ci/setup.sh k8s";

#[test]
fn local_cluster_serves_a_pod_by_dns_and_load_balancer_then_tears_down_clean() {
    assert!(is_root(), "the local cluster needs root (it runs containerd, kubelet and kube-proxy on the host)");
    let paths = LocalPaths::discover().expect("ci/k8s/up.sh is in this checkout");
    let provider = LocalProvider::with_paths(ProviderConfig::default(), paths.clone(), kubegate::process::system());

    // Teardown must not pull the cluster from under another process: wait
    // until no process uses it (ClusterUsers), and hold ensure_cluster's
    // start lock too, so nobody starts or reuses it while we tear it down.
    let state = kubegate::dirs::state_dir();
    ClusterUsers::exclusive(&state, ProviderKind::Local, || {
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(state.join(format!("cluster-{}.lock", ProviderKind::Local)))
            .expect("lock file");
        let mut lock = fd_lock::RwLock::new(lock_file);
        let _guard = lock.write().expect("exclusive cluster start lock");
        up_exercise_down(&provider, &paths);
    })
    .expect("the cluster users lock");
}

fn up_exercise_down(provider: &LocalProvider, paths: &LocalPaths) {
    let started = Instant::now();
    let info = provider
        .up()
        .unwrap_or_else(|e| panic!("the local cluster did not come up ({BUILD_HINT} if it is not built):\n{e}"));
    eprintln!("cluster up (or reused) in {:.1}s", started.elapsed().as_secs_f64());
    assert_eq!(info.provider, ProviderKind::Local);
    assert_eq!(info.load_balancer, LoadBalancerSupport::Metallb);
    assert!(info.kubeconfig.is_file(), "kubeconfig {} exists", info.kubeconfig.display());
    assert!(info.node_ip.is_some(), "the node IP is reported");
    LocalProvider::api_ready(&info).expect("/readyz answers ok");
    assert!(provider.status().expect("status works").is_some(), "status sees the running cluster");

    tag_testbox_in_docker(LOADED);
    let step = Instant::now();
    provider.load_images(&[LOADED.to_string()]).expect("load_images imports a Docker image into the cluster");
    eprintln!("load_images took {:.1}s", step.elapsed().as_secs_f64());

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(exercise_workload(&info, provider));

    // What is running before teardown: every recorded component pid.
    let pids = recorded_pids(&paths.cluster_dir);
    assert!(pids.len() >= 7, "up.sh recorded the pids of all components, got {pids:?}");

    let started = Instant::now();
    provider.down().expect("down succeeds");
    ensure::forget(ProviderKind::Local);
    eprintln!("cluster down in {:.1}s", started.elapsed().as_secs_f64());
    assert_nothing_left(paths, &pids);
    assert!(provider.status().expect("status works").is_none(), "status sees no cluster after down");
}

/// Deploy the web pod and its Services, and reach it from a pod and from the host.
async fn exercise_workload(info: &ClusterInfo, provider: &LocalProvider) {
    kubegate::provider::client::install_crypto_provider();
    let client = kubegate::provider::client::client_for(info).await.expect("kube client for the local cluster");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    // A namespace left by an interrupted earlier run goes first.
    if namespaces.get_opt(NAMESPACE).await.expect("get namespace").is_some() {
        let _ = namespaces.delete(NAMESPACE, &DeleteParams::default()).await;
        wait_for(Duration::from_secs(90), "the old test namespace to go away", || async {
            namespaces.get_opt(NAMESPACE).await.ok().flatten().is_none().then_some(())
        })
        .await;
    }
    // Restricted Pod Security: the pods below must (and do) comply.
    create(
        &namespaces,
        json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": NAMESPACE, "labels": { "pod-security.kubernetes.io/enforce": "restricted" } }
        }),
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let services: Api<Service> = Api::namespaced(client.clone(), NAMESPACE);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);

    create(&deployments, json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": {
                    "securityContext": restricted_pod(),
                    "containers": [{
                        "name": "web", "image": LOADED, "imagePullPolicy": "Never",
                        "args": ["serve", "-addr", ":8080"],
                        "ports": [{ "containerPort": 8080, "name": "http" }],
                        "readinessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "periodSeconds": 1 },
                        "securityContext": restricted_container(),
                        "resources": { "requests": { "cpu": "10m", "memory": "16Mi" }, "limits": { "memory": "32Mi" } }
                    }]
                }
            }
        }
    }))
    .await;
    for (name, type_) in [("web", "ClusterIP"), ("web-lb", "LoadBalancer")] {
        create(
            &services,
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": { "name": name },
                "spec": { "type": type_, "selector": { "app": "web" }, "ports": [{ "port": 80, "targetPort": "http" }] }
            }),
        )
        .await;
    }

    // The readiness probe passing is what makes the Deployment available.
    let started = Instant::now();
    wait_for(Duration::from_secs(120), "Deployment web to have a Ready replica (HTTP readiness probe)", || async {
        let d = deployments.get("web").await.ok()?;
        (d.status?.ready_replicas? >= 1).then_some(())
    })
    .await;
    eprintln!("web Ready {:.1}s after apply", started.elapsed().as_secs_f64());

    // From another pod, by DNS name through the ClusterIP Service.
    let url = format!("http://web.{NAMESPACE}.svc.cluster.local/");
    let (phase, log) = testbox_get_from_pod(&pods, "client", &url, 30).await;
    assert_eq!(phase, "Succeeded", "client pod GET {url} failed; its log:\n{log}");
    assert!(log.starts_with("testbox web-"), "client got the web pod's answer through DNS + ClusterIP, got {log:?}");

    assert_unprogrammed_service_address_refused(&client, &pods, provider).await;

    // From the host, through the LoadBalancer address MetalLB assigned.
    let lb_ip: IpAddr = wait_for(Duration::from_secs(60), "Service web-lb to get a LoadBalancer address", || async {
        let s = services.get("web-lb").await.ok()?;
        s.status?.load_balancer?.ingress?.first()?.ip.as_ref()?.parse().ok()
    })
    .await;
    // Keep the last answer: a timeout must say what the address answered instead.
    let last = std::sync::Mutex::new(String::from("nothing yet"));
    let answer = || async {
        match http_get(lb_ip, 80) {
            Ok(b) if b.starts_with("testbox web-") => Some(b),
            Ok(b) => {
                *last.lock().expect("lock") = format!("200 from something else: {b:?}");
                None
            }
            Err(e) => {
                *last.lock().expect("lock") = e.to_string();
                None
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        if let Some(b) = answer().await {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "no answer from the web pod through LoadBalancer {lb_ip}:80 within 30s; last: {}",
            last.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("host -> LoadBalancer {lb_ip}:80 answered {:?}", body.trim());

    let _ = namespaces.delete(NAMESPACE, &DeleteParams::default()).await;
}

/// An address of the Service range that no Service has must be refused, from
/// the host and from a pod, as kube-proxy refuses a Service without
/// endpoints: that is what a client sees while kube-proxy has not yet
/// programmed a new Service. Routed off the host instead, it reached this
/// machine's egress, which answers any address with an empty HTTP 404, and
/// a keep-alive client stayed on that connection (up.sh's REJECT rules).
async fn assert_unprogrammed_service_address_refused(client: &kube::Client, pods: &Api<Pod>, provider: &LocalProvider) {
    let env = provider.cluster_env().expect("cluster.env readable").expect("cluster.env of the running cluster");
    let cidr = env.service_cidr;
    let (network, bits) = cidr.split_once('/').expect("cluster.env's SERVICE_CIDR is address/bits");
    let network: u32 = network.parse::<std::net::Ipv4Addr>().expect("an IPv4 Service range").into();
    let size = 1u32 << (32 - bits.parse::<u32>().expect("prefix length"));
    let services: Api<Service> = Api::all(client.clone());
    let taken: Vec<String> = services
        .list(&Default::default())
        .await
        .expect("list Services")
        .items
        .into_iter()
        .filter_map(|s| s.spec?.cluster_ip)
        .collect();
    let free: IpAddr = (network + 2..network + size - 1)
        .map(|a| IpAddr::V4(a.into()))
        .find(|a| !taken.contains(&a.to_string()))
        .expect("a free address in the Service range");

    let from_host = TcpStream::connect_timeout(&(free, 80).into(), Duration::from_secs(3));
    assert!(
        from_host.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "host -> {free}:80 (in {cidr}, no Service): want connection refused, got {from_host:?}"
    );
    let (_, log) = testbox_get_from_pod(pods, "stray", &format!("http://{free}/"), 1).await;
    assert!(
        log.contains("connection refused"),
        "pod -> {free}:80 (in {cidr}, no Service): want connection refused, got {log:?}"
    );
    eprintln!("{free}:80 (in {cidr}, no Service) refused from the host and from a pod");
}

/// Run `testbox get URL -tries N` in a pod named `name` until it ends: its
/// phase (`Succeeded` once an answer was 200) and its log.
async fn testbox_get_from_pod(pods: &Api<Pod>, name: &str, url: &str, tries: u32) -> (String, String) {
    create(
        pods,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": name },
            "spec": {
                "restartPolicy": "Never",
                "securityContext": restricted_pod(),
                "containers": [{
                    "name": name, "image": testbox_image(), "imagePullPolicy": "IfNotPresent",
                    "args": ["get", url, "-tries", tries.to_string()],
                    "securityContext": restricted_container()
                }]
            }
        }),
    )
    .await;
    // Tries are 1 s apart with a 3 s timeout each, plus the pod's start.
    let limit = Duration::from_secs(30 + 4 * u64::from(tries));
    let phase = wait_for(limit, &format!("pod {name} to finish"), || async {
        let phase = pods.get(name).await.ok()?.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    let log = pods.logs(name, &LogParams::default()).await.unwrap_or_else(|e| panic!("pod {name}'s log: {e}"));
    (phase, log)
}

/// `VAR="value"` of ci/k8s/versions.sh.
fn pinned(var: &str) -> &'static str {
    VERSIONS_SH
        .lines()
        .find_map(|line| line.strip_prefix(var)?.strip_prefix("=\"")?.strip_suffix('"'))
        .unwrap_or_else(|| panic!("ci/k8s/versions.sh sets {var}=\"...\""))
}

/// The testbox image (`testbox serve|get|lookup`) ci/k8s/build-addons.sh
/// builds and up.sh imports.
fn testbox_image() -> String {
    pinned("TESTBOX_IMAGE").replace("$TESTBOX_VERSION", pinned("TESTBOX_VERSION"))
}

/// `docker tag` the testbox image as `tag` (loading it from the build cache
/// into Docker first if Docker does not have it).
fn tag_testbox_in_docker(tag: &str) {
    let docker = |args: &[&str]| std::process::Command::new("docker").args(args).output();
    let info = docker(&["info"]);
    assert!(
        info.as_ref().is_ok_and(|o| o.status.success()),
        "no Docker engine answering (load_images pipes `docker save`): start it with ci/setup.sh docker"
    );
    let testbox = testbox_image();
    if !docker(&["image", "inspect", &testbox]).is_ok_and(|o| o.status.success()) {
        let tar = kubegate::dirs::cache_root()
            .join(format!("images/testbox-{}.tar", pinned("TESTBOX_VERSION")))
            .display()
            .to_string();
        let out = docker(&["load", "-i", &tar]).expect("docker load");
        assert!(
            out.status.success(),
            "docker load -i {tar} failed ({BUILD_HINT}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = docker(&["tag", &testbox, tag]).expect("docker tag");
    assert!(out.status.success(), "docker tag {testbox} {tag}: {}", String::from_utf8_lossy(&out.stderr));
}

fn restricted_pod() -> serde_json::Value {
    json!({ "runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": { "type": "RuntimeDefault" } })
}

fn restricted_container() -> serde_json::Value {
    json!({ "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": { "drop": ["ALL"] } })
}

async fn create<K>(api: &Api<K>, object: serde_json::Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).expect("test object matches its Kubernetes type");
    api.create(&PostParams::default(), &object).await.unwrap_or_else(|e| panic!("creating {object:?}: {e}"));
}

/// Poll `check` every 500 ms until it returns `Some`, or fail naming `what`.
async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {}s waiting for {what}", limit.as_secs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A plain HTTP/1.0 GET of `/`; the body on 200.
fn http_get(ip: IpAddr, port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.write_all(format!("GET / HTTP/1.0\r\nHost: {ip}\r\n\r\n").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") => {
            Ok(body.to_string())
        }
        _ => Err(std::io::Error::other(format!("unexpected answer: {response:?}"))),
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// component name -> pid, from `<cluster dir>/pids/*.pid`.
fn recorded_pids(cluster_dir: &Path) -> BTreeMap<String, u32> {
    let mut pids = BTreeMap::new();
    for entry in std::fs::read_dir(cluster_dir.join("pids")).expect("pids dir").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid") {
            let name = path.file_stem().expect("file name").to_string_lossy().into_owned();
            let pid = std::fs::read_to_string(&path).expect("pid file").trim().parse().expect("pid file holds a pid");
            pids.insert(name, pid);
        }
    }
    pids
}

fn assert_nothing_left(paths: &LocalPaths, pids: &BTreeMap<String, u32>) {
    let dir = &paths.cluster_dir;
    let alive: Vec<_> = pids.iter().filter(|(_, pid)| Path::new(&format!("/proc/{pid}")).exists()).collect();
    assert!(alive.is_empty(), "components still running after down: {alive:?}");

    // Nothing whose command line mentions the cluster dir (shims, containers' helpers).
    let dir_text = dir.to_string_lossy().into_owned();
    let mut stray = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&dir_text) {
                stray.push(format!("{pid}: {cmdline}"));
            }
        }
    }
    assert!(stray.is_empty(), "processes still using {dir_text}: {stray:#?}");

    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mounts: Vec<_> = mountinfo.lines().filter(|l| l.contains(&dir_text)).collect();
    assert!(mounts.is_empty(), "mounts left under {dir_text}: {mounts:#?}");

    for iface in ["kubegate0", "kubegate-lb"] {
        assert!(!Path::new("/sys/class/net").join(iface).exists(), "interface {iface} left behind");
    }
    let veths: Vec<_> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .flatten()
        .filter(|e| e.path().join("master").canonicalize().is_ok_and(|m| m.ends_with("kubegate0")))
        .map(|e| e.file_name())
        .collect();
    assert!(veths.is_empty(), "veths still on kubegate0: {veths:?}");

    for tool in ["iptables-save", "ip6tables-save"] {
        let Ok(out) = std::process::Command::new(tool).output() else { continue };
        let text = String::from_utf8_lossy(&out.stdout);
        let chains: Vec<_> =
            text.lines().filter(|l| l.contains("KUBE-") || l.contains("CNI-") || l.contains("kubegate")).collect();
        assert!(chains.is_empty(), "{tool}: rules/chains left: {chains:#?}");
    }

    let cgroups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .expect("/sys/fs/cgroup")
        .flatten()
        .map(|e| e.path().join("kubegate"))
        .chain(std::iter::once(PathBuf::from("/sys/fs/cgroup/kubegate")))
        .filter(|p| p.exists())
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");

    for data in ["etcd", "containerd", "kubelet", "cni", "pki", "pids", "cluster.env"] {
        assert!(!dir.join(data).exists(), "{} left behind", dir.join(data).display());
    }
}
