# Shared by the ci/ scripts: `source "$(dirname "$0")/lib.sh"` (not run on its own).

# cni-sriov's failure-injection and recording PF hooks exist only with this feature; the
# release binary is built without it. ci/test.sh builds and tests with these features, and
# ci/validate-k8s.sh builds and tests the same way, so cargo unifies dependency features alike
# and nothing rebuilds.
TEST_FEATURES=(--features cni-sriov/test-hooks)
