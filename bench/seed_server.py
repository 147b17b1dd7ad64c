"""The Python server of seed 004 (../shared/seeds/004_*.txt, "Tarea Nro.2
Sockets"), for bench/round_trips.sh: the course projects' baseline that the
round-trip target of issue 5 is set against ("a third of the seed's Python
server's latency").

The seed's loop as published: accept, then recv(1024), decode, print, and
sendall the message back until "desconectar". Changed only so that it can
be measured: the address comes from the command line (127.0.0.1 and a free
port instead of localhost:8000), SO_REUSEADDR is set, and an empty recv (the
client has closed) ends the connection; the seed would loop on it forever.
Its prints stay (round_trips.sh sends them to /dev/null).

    python3 bench/seed_server.py PORT
"""
import socket
import sys

sServidor = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sServidor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
direccion_server = ('127.0.0.1', int(sys.argv[1]))
print('Comenzando en {} puerto {}'.format(*direccion_server))
sServidor.bind(direccion_server)
sServidor.listen(5)

while True:
    print('Esperando una conexion...')
    cliente, direccion = sServidor.accept()
    print('Conexion establecida con: ', direccion)
    while True:
        mensaje = cliente.recv(1024).decode()
        print('Recibido: ', mensaje)
        if mensaje == "desconectar" or mensaje == "":
            print("Desconectando cliente")
            break
        cliente.sendall(mensaje.encode())
    cliente.close()
    print("Conexión cerrada con el cliente")
