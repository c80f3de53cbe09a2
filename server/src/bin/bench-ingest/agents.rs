//! Simulated agents: one gRPC stream each over loopback, as `podwire-agent run` opens it (no
//! stream compression; uploads carry their own frame). Each says Hello, uploads its node's full
//! state, then, when told, uploads its changed snapshots back to back (each waits for the ack,
//! as the real agent does), then heartbeats back to back until a deadline.

use std::net::SocketAddr;
use std::time::Instant;

use podwire_node_state::wire::COMPRESSION;
use podwire_node_state::wire::proto::agent_ingest_client::AgentIngestClient;
use podwire_node_state::wire::proto::{self, agent_message, server_message};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::fleet::NodeSeries;

/// What the bench tells every agent to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connect and upload the first, full snapshot.
    Warmup,
    /// Upload every changed snapshot.
    Changes,
    /// Heartbeat until the instant.
    Heartbeats(Instant),
}

/// What one agent reports at the end of each phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Ready,
    ChangesDone { stored: u64, unchanged: u64 },
    HeartbeatsDone { acked: u64 },
}

/// The token the bench's ingest accepts.
pub const TOKEN: &str = "bench-ingest";

struct Stream {
    outbox: mpsc::Sender<proto::AgentMessage>,
    answers: tonic::Streaming<proto::ServerMessage>,
    sequence: u64,
}

impl Stream {
    async fn send(&mut self, message: agent_message::Message) -> anyhow::Result<proto::Ack> {
        self.outbox
            .send(proto::AgentMessage {
                message: Some(message),
            })
            .await?;
        match self.answers.message().await? {
            Some(proto::ServerMessage {
                message: Some(server_message::Message::Ack(ack)),
            }) => Ok(ack),
            other => anyhow::bail!("expected an Ack, got {other:?}"),
        }
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

/// Runs one agent through the phases, reporting to `reports`.
pub async fn agent(
    address: SocketAddr,
    series: NodeSeries,
    mut phase: watch::Receiver<Phase>,
    reports: mpsc::Sender<Report>,
) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let mut client = AgentIngestClient::new(channel).accept_compressed(COMPRESSION);
    let (outbox, queued) = mpsc::channel(2);
    outbox
        .send(proto::AgentMessage {
            message: Some(agent_message::Message::Hello(proto::Hello {
                cluster: series.cluster.clone(),
                node: series.node.clone(),
                agent_version: "bench".into(),
                boot_id: "bench".into(),
                capabilities: vec![],
            })),
        })
        .await?;
    let mut request = tonic::Request::new(ReceiverStream::new(queued));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse()?);
    let mut answers = client.connect(request).await?.into_inner();
    match answers.message().await? {
        Some(proto::ServerMessage {
            message: Some(server_message::Message::Welcome(_)),
        }) => {}
        other => anyhow::bail!("expected Welcome, got {other:?}"),
    }
    let mut stream = Stream {
        outbox,
        answers,
        sequence: 0,
    };
    let (first, changes) = series
        .uploads
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no snapshots"))?;
    let sequence = stream.next_sequence();
    stream
        .send(agent_message::Message::Snapshot(first.message(sequence)))
        .await?;
    reports.send(Report::Ready).await?;

    phase.wait_for(|p| *p == Phase::Changes).await?;
    let (mut stored, mut unchanged) = (0, 0);
    for upload in changes {
        let sequence = stream.next_sequence();
        let ack = stream
            .send(agent_message::Message::Snapshot(upload.message(sequence)))
            .await?;
        if ack.outcome == i32::from(proto::AckOutcome::Stored) {
            stored += 1;
        } else {
            unchanged += 1;
        }
    }
    reports
        .send(Report::ChangesDone { stored, unchanged })
        .await?;

    let Phase::Heartbeats(deadline) = *phase
        .wait_for(|p| matches!(p, Phase::Heartbeats(_)))
        .await?
    else {
        anyhow::bail!("the heartbeat phase never came");
    };
    let hash = changes.last().unwrap_or(first).content_hash.clone();
    let mut acked = 0;
    while Instant::now() < deadline {
        let sequence = stream.next_sequence();
        stream
            .send(agent_message::Message::Heartbeat(proto::Heartbeat {
                sequence,
                content_hash: hash.clone(),
            }))
            .await?;
        acked += 1;
    }
    reports.send(Report::HeartbeatsDone { acked }).await?;
    Ok(())
}
