//! Network namespace discovery (the netns directory and `/proc/*/ns/net`, deduplicated by inode)
//! and reading namespaces on dedicated OS threads.
