--
-- PostgreSQL database dump
--

\restrict lFZSoTvEgfKXJFfNv47BlscW3JKE98MFfHDfmo8SC8UqEUnKm15DRUTKubaa7iI

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';
CREATE TABLE public.res_users (
    id integer NOT NULL,
    company_id integer,
    partner_id integer NOT NULL,
    active boolean DEFAULT true,
    create_date timestamp without time zone,
    login character varying(64) NOT NULL,
    password character varying,
    action_id integer,
    create_uid integer,
    write_uid integer,
    signature text,
    share boolean,
    write_date timestamp without time zone,
    totp_secret character varying,
    notification_type character varying DEFAULT 'email'::character varying NOT NULL
);

INSERT INTO public.res_users VALUES (1, 1, 2, false, '2026-12-01 09:56:36.028348', '__system__', NULL, NULL, NULL, NULL, NULL, false, NULL, NULL, 'email');
INSERT INTO public.res_users VALUES (2, 1, 3, true, '2026-12-01 09:56:36.028348', 'admin', '$pbkdf2-sha512$600000$AAECAwQFBgcICQoLDA0ODw$1TcRz.JOhtcoU6lEDozCdEAEznaS1zS7S9JwW7K65dbb.JHnW/yiYxrsQLaF24sXmeRbSlcWjfcUsN1BQeqVBQ', NULL, NULL, NULL, NULL, false, NULL, NULL, 'email');
INSERT INTO public.res_users VALUES (3, 1, 4, true, '2026-12-01 09:56:36.028348', 'zhangsan', '$pbkdf2-sha512$25000$AAECAwQFBgcICQoLDA0ODw$hzjCVDG9FELw2b5EEyih3Omxf8FRIQmndWjgpGGArUfNcobEKrNA0TCDqviQOUQRez/u2tkBEug55SdLU1CGvQ', NULL, NULL, NULL, NULL, false, NULL, NULL, 'email');
INSERT INTO public.res_users VALUES (4, 1, 5, false, '2026-12-01 09:56:36.028348', 'lisi', '$pbkdf2-sha512$600000$AAECAwQFBgcICQoLDA0ODw$1TcRz.JOhtcoU6lEDozCdEAEznaS1zS7S9JwW7K65dbb.JHnW/yiYxrsQLaF24sXmeRbSlcWjfcUsN1BQeqVBQ', NULL, NULL, NULL, NULL, false, NULL, NULL, 'email');
