//! The servers a watch follows. A Redis Cluster node publishes the key events of its own keys only (keyspace
//! notifications are not broadcast across the cluster, unlike `PUBLISH`), so a cluster is followed node by node:
//! the URLs given, or, from one URL of a cluster node, every primary `CLUSTER NODES` lists. Each node gets a
//! number, carried by every event that comes from it, so that the restart of one node empties its keys only.

use crate::redis_url::RedisUrl;

/// One server followed.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its number in the events: 0 for a lone server, from 1 for the nodes of a cluster.
    pub number: u16,
    pub url: RedisUrl,
}

impl Node {
    /// `host:port`, as the report and messages name it.
    pub fn name(&self) -> String {
        self.url.address()
    }
}

/// A node's role in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

/// The primaries of a `CLUSTER NODES` reply, as `(host, port)`: the nodes that hold keys and publish their
/// events (replicas serve reads only when clients ask them to, and replay the writes their primary publishes).
/// Failed nodes and nodes still joining are left out; `seed_host` stands for a node that does not know its own
/// address yet.
pub fn primaries(cluster_nodes: &str, seed_host: &str) -> Vec<(String, u16)> {
    listed(cluster_nodes, seed_host, Role::Primary)
}

/// The nodes of a `CLUSTER NODES` reply in `role`, in service, as `(host, port)` (see [`primaries`]).
pub fn listed(cluster_nodes: &str, seed_host: &str, role: Role) -> Vec<(String, u16)> {
    let mut found = Vec::new();
    for line in cluster_nodes.lines() {
        // <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <epoch> <link-state> <slots>...
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else { continue };
        let flags: Vec<&str> = flags.split(',').collect();
        let in_role = match role {
            Role::Primary => flags.contains(&"master"),
            Role::Replica => flags.contains(&"slave") || flags.contains(&"replica"),
        };
        let usable = in_role
            && !flags.iter().any(|f| matches!(*f, "fail" | "fail?" | "handshake" | "noaddr"))
            && fields.get(7) != Some(&"disconnected");
        if !usable {
            continue;
        }
        let address = address.split(['@', ',']).next().unwrap_or("");
        let Some((host, port)) = address.rsplit_once(':') else { continue };
        let Ok(port) = port.parse::<u16>() else { continue };
        if port == 0 {
            continue;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host.is_empty() { seed_host } else { host };
        found.push((host.to_string(), port));
    }
    found.sort();
    found.dedup();
    found
}

/// Numbers the servers: a lone one is node 0 (its restart empties everything), several are nodes 1, 2...
pub fn numbered(urls: Vec<RedisUrl>) -> Vec<Node> {
    if urls.len() == 1 {
        return urls.into_iter().map(|url| Node { number: 0, url }).collect();
    }
    urls.into_iter().zip(1u16..).map(|(url, number)| Node { number, url }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_of_a_cluster_nodes_reply() {
        let reply = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 master,fail - 1426238316232 0 5 disconnected
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca :30001@31001 myself,master - 0 0 1 connected 0-5460
a1 [::1]:30007@31007 master,handshake - 0 0 0 connected
b2 ::1:30008@31008 master - 0 0 7 connected 100
c3 :0@0 master,noaddr - 0 0 0 disconnected
";
        assert_eq!(
            primaries(reply, "10.1.1.1"),
            vec![
                ("10.1.1.1".to_string(), 30001),
                ("127.0.0.1".to_string(), 30002),
                ("127.0.0.1".to_string(), 30003),
                ("::1".to_string(), 30008),
            ]
        );
        assert_eq!(listed(reply, "h", Role::Replica), vec![("127.0.0.1".to_string(), 30004)]);
        assert!(primaries("", "h").is_empty());
        assert!(primaries("garbage\n\n x y", "h").is_empty());
    }

    #[test]
    fn a_lone_server_is_node_0_and_the_nodes_of_a_cluster_count_from_1() {
        let url = |port| RedisUrl::parse(&format!("127.0.0.1:{port}")).unwrap();
        let one = numbered(vec![url(7000)]);
        assert_eq!(one[0].number, 0);
        let three = numbered(vec![url(7000), url(7001), url(7002)]);
        assert_eq!(three.iter().map(|n| n.number).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(three[1].name(), "127.0.0.1:7001");
    }
}
