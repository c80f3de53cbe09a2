use std::fs;
use std::os::unix::fs::symlink;
use std::time::Duration;

use super::*;

fn role_of(plan: &BTreeMap<PathBuf, Role>, root: &Path, relative: &str) -> Option<Role> {
    plan.get(&root.join(relative)).copied()
}

#[test]
fn missing_directories_are_waited_for_at_their_nearest_ancestor() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("var/lib/cni/networks/cbr0")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    // Ubuntu: /var/run is an absolute link to /run, to be followed inside the host root.
    fs::create_dir_all(root.join("run/aws-node")).unwrap();
    symlink("/run", root.join("var/run")).unwrap();

    let plan = plan(&HostRoot::new(root), root, &[]);
    let expected = [
        // results/ does not exist yet: its parent is watched for it
        ("var/lib/cni", Some(Role::Ancestor)),
        ("var/lib/cni/results", None),
        ("etc", Some(Role::Ancestor)),
        ("var/lib/cni/networks", Some(Role::Target)),
        ("var/lib/cni/networks/cbr0", Some(Role::Target)),
        ("run/aws-node", Some(Role::Target)),
        ("var/run/aws-node", None),
        // run/flannel's parent run/ exists
        ("run", Some(Role::Ancestor)),
    ];
    for (relative, role) in expected {
        assert_eq!(role_of(&plan, root, relative), role, "{relative}: {plan:?}");
    }
    assert_eq!(plan.len(), 6, "{plan:?}");
}

#[test]
fn an_empty_root_is_watched_itself_and_nothing_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&HostRoot::new(dir.path()), dir.path(), &[]);
    assert_eq!(
        plan.into_iter().collect::<Vec<_>>(),
        vec![(dir.path().to_owned(), Role::Ancestor)]
    );
}

#[test]
fn configured_data_dirs_and_their_networks_are_targets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("opt/ipam/mynet")).unwrap();
    let plan = plan(&HostRoot::new(root), root, &["/opt/ipam/".to_owned()]);
    assert_eq!(role_of(&plan, root, "opt/ipam"), Some(Role::Target));
    assert_eq!(role_of(&plan, root, "opt/ipam/mynet"), Some(Role::Target));
}

/// Waits for file notifications until `dir` is reported changed.
fn until_changed(watch: &mut FileWatch, dir: &Path) -> FileChanges {
    loop {
        let changes = watch
            .next_changes(Some(Duration::from_secs(10)))
            .unwrap()
            .unwrap_or_else(|| panic!("no change of {} within 10 s", dir.display()));
        if changes.dirs.contains(dir) {
            return changes;
        }
    }
}

#[test]
fn files_written_into_directories_that_appear_later_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let (mut watch, _data_dirs) = FileWatch::open(&root).unwrap();
    assert_eq!(
        watch.watches().into_values().collect::<Vec<_>>(),
        vec![Role::Ancestor]
    );

    // The first pod: libcni creates the cache directory and writes its result in one go.
    let results = root.join("var/lib/cni/results");
    fs::create_dir_all(&results).unwrap();
    fs::write(results.join("aws-cni-abc-eth0"), b"{}").unwrap();
    until_changed(&mut watch, &results);
    assert_eq!(watch.watches().get(&results), Some(&Role::Target));

    // Then files in it are reported as they are written, renamed and deleted.
    fs::write(results.join("aws-cni-def-eth0"), b"{}").unwrap();
    until_changed(&mut watch, &results);
    fs::rename(
        results.join("aws-cni-def-eth0"),
        results.join("aws-cni-ghi-eth0"),
    )
    .unwrap();
    until_changed(&mut watch, &results);
    fs::remove_file(results.join("aws-cni-abc-eth0")).unwrap();
    until_changed(&mut watch, &results);

    // host-local: a new network directory is watched as soon as it appears.
    let networks = root.join("var/lib/cni/networks");
    fs::create_dir_all(networks.join("mynet")).unwrap();
    fs::write(networks.join("mynet/10.244.1.5"), b"c0ffee\r\neth0").unwrap();
    until_changed(&mut watch, &networks.join("mynet"));
    fs::write(networks.join("mynet/10.244.1.6"), b"c0ffee\r\neth0").unwrap();
    until_changed(&mut watch, &networks.join("mynet"));

    // A removed directory is waited for again at its parent.
    fs::remove_dir_all(&results).unwrap();
    while watch.watches().contains_key(&results) {
        watch
            .next_changes(Some(Duration::from_secs(10)))
            .unwrap()
            .expect("the removal is reported");
    }
    assert_eq!(
        watch.watches().get(&root.join("var/lib/cni")),
        Some(&Role::Ancestor)
    );
}

#[test]
fn configured_data_dirs_are_followed_once_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    fs::create_dir_all(root.join("opt/ipam/mynet")).unwrap();
    let (mut watch, data_dirs) = FileWatch::open(&root).unwrap();
    assert!(!watch.watches().contains_key(&root.join("opt/ipam/mynet")));

    // A snapshot whose configuration names dataDir /opt/ipam: the watcher is woken and
    // reports the directories it now watches (they may hold files written before).
    data_dirs.follow(vec!["/opt/ipam".to_owned()]);
    let changes = until_changed(&mut watch, &root.join("opt/ipam/mynet"));
    assert!(changes.dirs.contains(&root.join("opt/ipam")));
    fs::write(root.join("opt/ipam/mynet/10.1.0.7"), b"c0ffee").unwrap();
    until_changed(&mut watch, &root.join("opt/ipam/mynet"));

    // The same list again wakes nobody.
    data_dirs.follow(vec!["/opt/ipam".to_owned()]);
    assert_eq!(
        watch
            .next_changes(Some(Duration::from_millis(200)))
            .unwrap(),
        None
    );
}
