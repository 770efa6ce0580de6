# privtrail in a minimal, non-root container.
#   docker build -t privtrail .
#   docker run --rm -v privtrail-data:/var/lib/privtrail -v $PWD/my.yaml:/etc/privtrail/privtrail.yaml:ro \
#     -p 127.0.0.1:9464:9464 privtrail
# The shipped pipelines are in /etc/privtrail/pipelines: a config mounted
# as /etc/privtrail/privtrail.yaml names them pipelines/privileged-accounts.yaml
# (paths are relative to the config's folder). configs/privtrail.yaml, whose
# paths are relative to configs/, is mounted as /etc/privtrail/configs/privtrail.yaml
# with `run -c /etc/privtrail/configs/privtrail.yaml`, and its role map as
# /etc/privtrail/rolemap.yaml.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo) with the time zone database embedded (main imports
# time/tzdata), so the work-hours stage works in an image without zoneinfo.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/privtrail . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/privtrail /usr/local/bin/privtrail
COPY --from=build /src/pipelines /etc/privtrail/pipelines
COPY --from=build --chown=nonroot:nonroot /out/data /var/lib/privtrail
VOLUME ["/var/lib/privtrail"]
USER nonroot:nonroot
# In a container the endpoints must listen beyond loopback to be reached;
# set http.listen: 0.0.0.0:9464 in the config and publish the port on the
# host's loopback only (-p 127.0.0.1:9464:9464).
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["/usr/local/bin/privtrail", "health", "http://127.0.0.1:9464/readyz"]
ENTRYPOINT ["/usr/local/bin/privtrail"]
CMD ["run", "-c", "/etc/privtrail/privtrail.yaml"]
