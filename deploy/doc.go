// Package deploy holds dayi's deployment files, not code: the systemd unit
// (dayi.service), the nginx TLS site (nginx-dayi.conf) and the deployment
// guide (README.md). Its tests check the unit with systemd-analyze, the site
// with nginx -t, and that the two agree with each other (body limit, address,
// host name).
package deploy
