//! Published ports added and removed while the stack runs ([`burrow_net::PortControl`],
//! what burrow-slirp's API socket uses): a port added from another thread serves host
//! clients into the container, a removed one no longer listens, and once the stack is
//! gone requests fail instead of waiting.

mod harness;

use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};
use std::thread;
use std::time::Duration;

use burrow_net::publish::bind_published;
use burrow_net::{ControlError, PortMapping, Protocol};
use harness::{config, silent_udp, Harness};
use smoltcp::socket::tcp;

/// Runs `work` on another thread while the harness steps the stack; its result.
fn while_stepping<T: Send + 'static>(
    harness: &mut Harness,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let worker = thread::spawn(work);
    while !worker.is_finished() {
        harness.step();
    }
    worker.join().expect("the worker thread")
}

#[test]
fn ports_are_published_and_closed_while_the_stack_runs() {
    let dns = silent_udp();
    let mut harness = Harness::new(config(dns.local_addr().expect("address")), Vec::new());
    // The container listens on 8080 and answers "hello".
    let mut server = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 4096]),
        tcp::SocketBuffer::new(vec![0; 4096]),
    );
    server.listen(8080).expect("listen in the container");
    let server = harness.sockets.add(server);

    let control = harness.stack.port_control().expect("port control");
    let mapping = PortMapping {
        host_ip: Ipv4Addr::LOCALHOST.into(),
        host_port: 0,
        container_port: 8080,
        protocol: Protocol::Tcp,
    };
    let mut bound = bind_published(&[mapping]).expect("bind a host port");
    let port = bound.pop().expect("one port");
    let host_port = port.mapping().host_port;
    let adder = control.clone();
    let id = while_stepping(&mut harness, move || adder.add(port)).expect("add the port");

    let client = thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", host_port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read the reply");
        reply
    });
    harness.step_until("the client's connection", Duration::from_secs(30), |h| {
        h.sockets.get::<tcp::Socket>(server).may_send()
    });
    let socket = harness.sockets.get_mut::<tcp::Socket>(server);
    socket.send_slice(b"hello").expect("send");
    socket.close();
    while !client.is_finished() {
        harness.step();
    }
    assert_eq!(client.join().expect("client"), "hello");

    let remover = control.clone();
    assert!(matches!(
        while_stepping(&mut harness, move || remover.remove(id)),
        Ok(true)
    ));
    assert!(
        TcpStream::connect(("127.0.0.1", host_port)).is_err(),
        "the removed port still listens"
    );
    let remover = control.clone();
    assert!(matches!(
        while_stepping(&mut harness, move || remover.remove(id)),
        Ok(false)
    ));

    drop(harness);
    let mut again = bind_published(&[mapping]).expect("bind a host port");
    let port = again.pop().expect("one port");
    assert!(matches!(control.add(port), Err(ControlError::Stopped)));
}
