// The local cluster's test workload image. See main.go.
module kubegate.local/ci/k8s/images/testbox

go 1.24
