# Pinned versions of everything the local cluster runs (sourced by ci/k8s/*.sh).
# Changing a version makes the next ci/setup.sh build it into a new cache dir.
K8S_VERSION="${K8S_VERSION:-1.34.4}"
ETCD_VERSION="v3.6.4"          # what kubeadm v1.34 pins
COREDNS_VERSION="v1.12.1"      # what kubeadm v1.34 pins
METALLB_VERSION="v0.15.2"
METRICS_SERVER_VERSION="v0.8.0" # supports Kubernetes 1.31+ (its README); needs Go >= 1.24 like the rest
PAUSE_VERSION="3.10"           # registry.k8s.io/pause tag kubelet v1.34 expects
TESTBOX_VERSION="2"
TESTBOX_IMAGE="kubegate.local/testbox:$TESTBOX_VERSION"
